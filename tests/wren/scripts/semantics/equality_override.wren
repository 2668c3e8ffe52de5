class AlwaysEqual {
  construct new() {}
  ==(other) { true }
}
var a = AlwaysEqual.new()
var b = AlwaysEqual.new()
System.print(a == b) // expect: true
System.print(a == 1) // expect: true
// "!=" is its own method: the built-in one compares identity.
System.print(a != b) // expect: true
System.print(Object.same(a, b)) // expect: false
System.print(Object.same(a, a)) // expect: true
class NeverUnequal {
  construct new() {}
  !=(other) { false }
}
System.print(NeverUnequal.new() != 1) // expect: false
System.print(NeverUnequal.new() == 1) // expect: false
