var gen = Fn.new {|n|
  return Fiber.new {
    for (i in 1..n) Fiber.yield(i)
  }
}
var g = gen.call(3)
var out = []
while (true) {
  var v = g.call()
  if (g.isDone) break
  out.add(v)
}
System.print(out) // expect: [1, 2, 3]
