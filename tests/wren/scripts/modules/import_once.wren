import "./_lib/a" for A
import "./_lib/a" for B
import "./_lib/a"
// expect: a runs
System.print(A + ", " + B) // expect: value of A, value of B
