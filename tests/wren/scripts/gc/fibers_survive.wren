var fibers = []
for (i in 1..100) {
  var data = "fiber %(i)"
  var f = Fiber.new {
    var local = [data]
    Fiber.yield()
    return local[0]
  }
  f.call()
  fibers.add(f)
}
for (i in 1..1000) {
  var garbage = "garbage %(i)" * 3
}
System.gc()
System.print(fibers[0].call()) // expect: fiber 1
System.print(fibers[99].call()) // expect: fiber 100
