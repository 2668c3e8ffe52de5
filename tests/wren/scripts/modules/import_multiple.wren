import "./_lib/a" for A, B, Greeter
// expect: a runs
System.print(A) // expect: value of A
System.print(B) // expect: value of B
System.print(Greeter.greet("you")) // expect: hello you
