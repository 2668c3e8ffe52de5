var fib
fib = Fn.new {|n| n < 2 ? n : fib.call(n - 1) + fib.call(n - 2) }
System.print(fib.call(20)) // expect: 6765
class Math {
  static fact(n) { n <= 1 ? 1 : n * fact(n - 1) }
  static depth(n) { n == 0 ? 0 : 1 + depth(n - 1) }
}
System.print(Math.fact(10)) // expect: 3628800
System.print(Math.depth(5000)) // expect: 5000
