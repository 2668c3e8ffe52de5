var f = Fn.new {
  super.foo() // expect error
}