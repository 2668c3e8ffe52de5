// Arithmetic, comparison and String equality give the primitives' results
// whichever way they run (inline for two Nums or a String, as a call otherwise).
System.print(1 + 2) // expect: 3
System.print(7 - 10) // expect: -3
System.print(1.5 * 4) // expect: 6
System.print(1 / 0) // expect: infinity
System.print(0 / 0 == 0 / 0) // expect: false
System.print(0 / 0 != 0 / 0) // expect: true
System.print(2 < 3 && 3 > 2 && 2 <= 2 && 3 >= 4 == false) // expect: true
System.print([7 % 3, -7 % 3, 7.5 % 2, 5 % -3]) // expect: [1, -1, 1.5, 2]
System.print(1 % 0) // expect: nan
System.print(Fiber.new { 1 % "a" }.try()) // expect: Right operand must be a number.
System.print(Fiber.new { 1 < "a" }.try()) // expect: Right operand must be a number.
System.print("abc" == "ab" + "c") // expect: true
System.print("abc" != "abd") // expect: true
System.print("abc" == 1) // expect: false
System.print("abc" != null) // expect: true
System.print(1 == "1") // expect: false
class Wrapped {
  construct new(n) { _n = n }
  %(other) { "Wrapped \% %(other)" }
  +(other) { "Wrapped + %(other)" }
  ==(other) { "Wrapped == %(other)" }
}
System.print(Wrapped.new(1) + 2) // expect: Wrapped + 2
System.print(Wrapped.new(1) % 2) // expect: Wrapped % 2
System.print(Wrapped.new(1) == 2) // expect: Wrapped == 2
System.print(1 + "a") // expect runtime error: Right operand must be a number.
