var A = "main A"
import "./_lib/a" for Greeter
// expect: a runs
System.print(A) // expect: main A
System.print(Greeter.greet(A)) // expect: hello main A
