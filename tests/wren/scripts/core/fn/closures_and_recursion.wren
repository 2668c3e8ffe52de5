var countdown
countdown = Fn.new {|n|
  if (n == 0) return "liftoff"
  return countdown.call(n - 1)
}
System.print(countdown.call(1000)) // expect: liftoff
var compose = Fn.new {|f, g| Fn.new {|x| f.call(g.call(x)) } }
var inc = Fn.new {|x| x + 1 }
var dbl = Fn.new {|x| x * 2 }
System.print(compose.call(inc, dbl).call(5)) // expect: 11
System.print(compose.call(dbl, inc).call(5)) // expect: 12
