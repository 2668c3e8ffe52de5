System.print("text") // expect: text
System.print(1) // expect: 1
System.print() // expect:
System.print([1, "a"]) // expect: [1, a]
System.print(null) // expect: null
System.print("") // expect:
System.print("two\nlines")
// expect: two
// expect: lines
