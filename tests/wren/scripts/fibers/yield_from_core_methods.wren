var f = Fiber.new {
  [1, 2, 3].each {|x| Fiber.yield(x) }
}
System.print(f.call()) // expect: 1
System.print(f.call()) // expect: 2
System.print(f.call()) // expect: 3
System.print(f.call()) // expect: null
System.print(f.isDone) // expect: true
var g = Fiber.new {
  return [10, 20].map {|x| Fiber.yield(x) }.toList
}
System.print(g.call()) // expect: 10
System.print(g.call("a")) // expect: 20
System.print(g.call("b")) // expect: [a, b]
