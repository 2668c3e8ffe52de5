import "./_lib/a" for A as Renamed, Greeter as G
// expect: a runs
System.print(Renamed) // expect: value of A
System.print(G.greet("me")) // expect: hello me
System.print(G.name) // expect: Greeter
