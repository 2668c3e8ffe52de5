var list = [1, 2]
list.each {|x|
  if (x == 2) Fiber.abort("stopped at %(x)") // expect runtime error: stopped at 2
}
