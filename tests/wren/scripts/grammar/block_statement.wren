{
  var inner = "in block"
  System.print(inner) // expect: in block
}
{
  System.print("second block") // expect: second block
  {
    System.print("nested block") // expect: nested block
  }
}
{}
System.print("done") // expect: done
