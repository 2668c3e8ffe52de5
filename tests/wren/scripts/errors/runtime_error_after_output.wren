for (i in 1..3) {
  System.print(i)
  if (i == 2) Fiber.abort("stop at two") // expect runtime error: stop at two
}
// expect: 1
// expect: 2
