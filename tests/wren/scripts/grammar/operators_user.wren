class Op {
  construct new(name) { _name = name }
  toString { _name }
  +(o) { "%(_name) + %(o)" }
  -(o) { "%(_name) - %(o)" }
  *(o) { "%(_name) * %(o)" }
  /(o) { "%(_name) / %(o)" }
  %(o) { "%(_name) \% %(o)" }
  <(o) { "%(_name) < %(o)" }
  >(o) { "%(_name) > %(o)" }
  <=(o) { "%(_name) <= %(o)" }
  >=(o) { "%(_name) >= %(o)" }
  ==(o) { "%(_name) == %(o)" }
  !=(o) { "%(_name) != %(o)" }
  &(o) { "%(_name) & %(o)" }
  |(o) { "%(_name) | %(o)" }
  ^(o) { "%(_name) ^ %(o)" }
  <<(o) { "%(_name) << %(o)" }
  >>(o) { "%(_name) >> %(o)" }
  ..(o) { "%(_name) .. %(o)" }
  ...(o) { "%(_name) ... %(o)" }
  - { "-%(_name)" }
  ! { "!%(_name)" }
  ~ { "~%(_name)" }
}
var a = Op.new("a")
System.print(a + 1) // expect: a + 1
System.print(a - 1) // expect: a - 1
System.print(a * 1) // expect: a * 1
System.print(a / 1) // expect: a / 1
System.print(a % 1) // expect: a % 1
System.print(a < 1) // expect: a < 1
System.print(a > 1) // expect: a > 1
System.print(a <= 1) // expect: a <= 1
System.print(a >= 1) // expect: a >= 1
System.print(a == 1) // expect: a == 1
System.print(a != 1) // expect: a != 1
System.print(a & 1) // expect: a & 1
System.print(a | 1) // expect: a | 1
System.print(a ^ 1) // expect: a ^ 1
System.print(a << 1) // expect: a << 1
System.print(a >> 1) // expect: a >> 1
System.print(a..1) // expect: a .. 1
System.print(a...1) // expect: a ... 1
System.print(-a) // expect: -a
System.print(!a) // expect: !a
System.print(~a) // expect: ~a
System.print(a + a) // expect: a + a
