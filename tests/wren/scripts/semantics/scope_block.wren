var a = "outer"
{
  var a = "inner"
  System.print(a) // expect: inner
  {
    var a = "innermost"
    System.print(a) // expect: innermost
  }
  System.print(a) // expect: inner
}
System.print(a) // expect: outer
