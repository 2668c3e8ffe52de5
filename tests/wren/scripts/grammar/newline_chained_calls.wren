var result = [1, 2, 3, 4]
  .where {|x| x > 1 }
  .map {|x| x * 10 }
  .toList
System.print(result) // expect: [20, 30, 40]
var s = "  padded  "
  .trim()
System.print(s) // expect: padded
System.print("abc"
  .count) // expect: 3
