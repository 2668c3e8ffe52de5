var sum = Fn.new {|a, b, c| a + b + c }
System.print(sum.call(1, 2, 3)) // expect: 6
System.print(sum.call(1, 2, 3, 4)) // expect: 6
System.print(Fn.new {|a| a }.call(1, 2)) // expect: 1
System.print(Fn.new { "zero" }.call(1, 2, 3)) // expect: zero
var sixteen = Fn.new {|a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p|
  return a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p
}
System.print(sixteen.call(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)) // expect: 136
System.print(Fiber.new { sum.call(1, 2) }.try()) // expect: Function expects more arguments.
