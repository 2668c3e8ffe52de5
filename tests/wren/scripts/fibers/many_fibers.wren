var sum = 0
for (i in 1..10000) {
  var f = Fiber.new {|x| x * 2 }
  sum = sum + f.call(i)
}
System.print(sum) // expect: 100010000
var fibers = []
for (i in 1..1000) fibers.add(Fiber.new { Fiber.yield(i) })
var total = 0
for (f in fibers) total = total + f.call()
System.print(total) // expect: 500500
