class Members {
  construct new() {}
  construct named(a, b) { _sum = a + b }
  method() { "method" }
  method(a) { "method %(a)" }
  getter { "getter" }
  setter=(v) { _set = v }
  set { _set }
  sum { _sum }
  static staticMethod() { "static method" }
  static staticGetter { "static getter" }
  static staticSetter=(v) { __s = v }
  static s { __s }
  [i] { "subscript %(i)" }
  [i]=(v) { _sub = "%(i)=%(v)" }
  sub { _sub }
  -(o) { "minus %(o)" }
  - { "negate" }
}
var m = Members.new()
System.print(m.method()) // expect: method
System.print(m.method(1)) // expect: method 1
System.print(m.getter) // expect: getter
m.setter = "x"
System.print(m.set) // expect: x
System.print(Members.named(1, 2).sum) // expect: 3
System.print(Members.staticMethod()) // expect: static method
System.print(Members.staticGetter) // expect: static getter
Members.staticSetter = "y"
System.print(Members.s) // expect: y
System.print(m[5]) // expect: subscript 5
m[1] = 2
System.print(m.sub) // expect: 1=2
System.print(m - 1) // expect: minus 1
System.print(-m) // expect: negate
