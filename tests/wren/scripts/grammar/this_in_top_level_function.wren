var f = Fn.new {
  System.print(this) // expect error
}