var make
make = Fn.new {|n|
  return Fiber.new {
    if (n == 0) return 0
    return 1 + make.call(n - 1).call()
  }
}
System.print(make.call(10000).call()) // expect: 10000
