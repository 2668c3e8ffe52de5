// Recursive Fibonacci: method calls and arithmetic on small numbers.

var start = System.clock

class Fib {
  static get(n) {
    if (n < 2) return n
    return get(n - 1) + get(n - 2)
  }
}

var result = 0
for (i in 1..5) {
  result = Fib.get(28)
}
System.print(result)
System.print("elapsed: %(System.clock - start)")
