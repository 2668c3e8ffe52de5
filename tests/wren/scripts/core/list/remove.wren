var list = [1, 2, 3, 2]
System.print(list.remove(2)) // expect: 2
System.print(list) // expect: [1, 3, 2]
System.print(list.remove(9)) // expect: null
System.print(list) // expect: [1, 3, 2]
var words = ["a", "b"]
System.print(words.remove("a")) // expect: a
System.print(words) // expect: [b]
