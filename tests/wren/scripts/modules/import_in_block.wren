{
  import "./_lib/a" for A
  // expect: a runs
  System.print(A) // expect: value of A
}
var f = Fn.new {
  import "./_lib/a" for B
  return B
}
System.print(f.call()) // expect: value of B
