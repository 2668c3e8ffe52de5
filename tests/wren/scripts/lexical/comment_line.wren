// A line comment.
System.print("a") // expect: a
// System.print("never")
System.print("b") // a trailing comment // expect: b
//
System.print("c") // expect: c
