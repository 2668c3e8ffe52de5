// Fibers: a chain of 100000 fibers, each one calling the next, then many
// short fibers created and switched to; fiber switches must not recurse in C.

var start = System.clock

var count = 0

var chain
chain = Fn.new {|n|
  return Fiber.new {
    count = count + 1
    if (n > 1) chain.call(n - 1).call()
  }
}
chain.call(100000).call()
System.print(count)

var sum = 0
for (i in 1..500000) {
  var fiber = Fiber.new {|x|
    var y = Fiber.yield(x + 1)
    return y * 2
  }
  sum = sum + fiber.call(i)
  sum = sum + fiber.call(i)
}
System.print(sum)
System.print("elapsed: %(System.clock - start)")
