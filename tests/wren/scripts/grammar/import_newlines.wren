import "./_lib/pair" for
  First,
  Second
System.print(First) // expect: first
System.print(Second) // expect: second
