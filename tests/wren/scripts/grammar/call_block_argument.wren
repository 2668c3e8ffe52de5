class Runner {
  static run(fn) { fn.call() }
  static run(a, fn) { fn.call(a) }
  static twice(fn) { fn.call(fn.call(1)) }
}
System.print(Runner.run { "block" }) // expect: block
System.print(Runner.run(5) {|x| x * 2 }) // expect: 10
System.print(Runner.twice {|x| x + 1 }) // expect: 3
System.print(Runner.run {
  "a multi-line block returns null"
}) // expect: null
System.print(Runner.run {}) // expect: null
