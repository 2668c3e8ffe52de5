var f = Fiber.new {|v|
  var next = Fiber.yield(v + 1)
  return next * 2
}
System.print(f.try(1)) // expect: 2
System.print(f.try(5)) // expect: 10
System.print(f.isDone) // expect: true
