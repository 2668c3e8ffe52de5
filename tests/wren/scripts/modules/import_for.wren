import "./_lib/a" for A
// expect: a runs
System.print(A) // expect: value of A
