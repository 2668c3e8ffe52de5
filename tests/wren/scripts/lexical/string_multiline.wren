var s = "first
second"
System.print(s)
// expect: first
// expect: second
System.print(s.count) // expect: 12
