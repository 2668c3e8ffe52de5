var outer = Fn.new {
  var a = "a"
  return Fn.new {
    var b = "b"
    return Fn.new {
      var c = "c"
      return Fn.new { a + b + c }
    }
  }
}
System.print(outer.call().call().call().call()) // expect: abc
