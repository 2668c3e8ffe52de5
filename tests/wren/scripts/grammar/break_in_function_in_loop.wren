for (i in [1]) {
  var f = Fn.new {
    break // expect error
  }
}