var Main = Fiber.current
var A = Fiber.new {|start|
  System.print("a got %(start)")
  var back = B.transfer("from a")
  System.print("a resumed with %(back)")
  Main.transfer("a done")
}
var B = Fiber.new {|v|
  System.print("b got %(v)")
  A.transfer("from b")
}
System.print(A.transfer("go"))
System.print("main continues")
// expect: a got go
// expect: b got from a
// expect: a resumed with from b
// expect: a done
// expect: main continues
