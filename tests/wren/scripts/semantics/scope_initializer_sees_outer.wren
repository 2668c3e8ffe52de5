// A local is not in scope in its own initializer, so "a" is the outer one.
var a = "outer"
{
  var a = a + " then inner"
  System.print(a) // expect: outer then inner
}
System.print(a) // expect: outer
