System.print("ok") // expect: ok
// a comment with no newline at the end