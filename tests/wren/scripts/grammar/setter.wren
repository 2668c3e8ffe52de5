class Box {
  construct new() {}
  value { _value }
  value=(v) { _value = v }
}
var b = Box.new()
System.print(b.value) // expect: null
b.value = 3
System.print(b.value) // expect: 3
b.value = b.value + 1
System.print(b.value) // expect: 4
