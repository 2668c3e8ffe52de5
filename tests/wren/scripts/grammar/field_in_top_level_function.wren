var f = Fn.new {
  _field = 1 // expect error
}