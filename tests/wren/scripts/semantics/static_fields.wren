class Counter {
  construct new() { __count = (__count == null ? 0 : __count) + 1 }
  static count { __count }
  count { __count }
  static reset() { __count = 0 }
}
System.print(Counter.count) // expect: null
Counter.new()
Counter.new()
var c = Counter.new()
System.print(Counter.count) // expect: 3
System.print(c.count) // expect: 3
Counter.reset()
System.print(c.count) // expect: 0
class Other {
  static count { __count }
}
System.print(Other.count) // expect: null
