var f = Fn.new { "expression body" }
System.print(f.call()) // expect: expression body
var g = Fn.new {
  "statement body"
}
System.print(g.call()) // expect: null
var h = Fn.new {
  return "returned"
}
System.print(h.call()) // expect: returned
var e = Fn.new {}
System.print(e.call()) // expect: null
var p = Fn.new {|x| x * 2 }
System.print(p.call(21)) // expect: 42
var q = Fn.new {|x|
  return x * 3
}
System.print(q.call(2)) // expect: 6
