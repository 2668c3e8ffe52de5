var f0 = Fn.new { 0 }
var f1 = Fn.new {|a| a }
var f2 = Fn.new {|a, b| a + b }
var f3 = Fn.new {|a, b, c| a + b + c }
var f4 = Fn.new {|a, b, c, d| a + b + c + d }
var f5 = Fn.new {|a, b, c, d, e| a + b + c + d + e }
var f8 = Fn.new {|a, b, c, d, e, f, g, h| a + b + c + d + e + f + g + h }
System.print(f0.call()) // expect: 0
System.print(f1.call(1)) // expect: 1
System.print(f2.call(1, 2)) // expect: 3
System.print(f3.call(1, 2, 3)) // expect: 6
System.print(f4.call(1, 2, 3, 4)) // expect: 10
System.print(f5.call(1, 2, 3, 4, 5)) // expect: 15
System.print(f8.call(1, 2, 3, 4, 5, 6, 7, 8)) // expect: 36
