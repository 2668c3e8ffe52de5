var log = []
var ping = Fiber.new {
  for (i in 1..3) {
    log.add("ping %(i)")
    Fiber.yield()
  }
}
var pong = Fiber.new {
  for (i in 1..3) {
    log.add("pong %(i)")
    Fiber.yield()
  }
}
for (i in 1..3) {
  ping.call()
  pong.call()
}
System.print(log.join(", ")) // expect: ping 1, pong 1, ping 2, pong 2, ping 3, pong 3
