var fiber = Fiber.new {|first|
  System.print("got %(first)")
  var second = Fiber.yield("y1")
  System.print("got %(second)")
  var third = Fiber.yield("y2")
  System.print("got %(third)")
  return "done"
}
System.print(fiber.call("a"))
System.print(fiber.call("b"))
System.print(fiber.call("c"))
// expect: got a
// expect: y1
// expect: got b
// expect: y2
// expect: got c
// expect: done
