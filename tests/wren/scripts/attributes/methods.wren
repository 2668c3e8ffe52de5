// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
class Foo {
  #!doc = "instance"
  method() {}
  #!doc = "static"
  static helper(a) {}
  #!getter
  value { 1 }
  #!setter
  value=(v) {}
  #!op
  +(other) { other }
  plain() {}
}
var methods = Foo.attributes.methods
System.print(methods["method()"][null]["doc"]) // expect: [instance]
System.print(methods["static helper(_)"][null]["doc"]) // expect: [static]
System.print(methods["value"][null]["getter"]) // expect: [null]
System.print(methods["value=(_)"][null]["setter"]) // expect: [null]
System.print(methods["+(_)"][null]["op"]) // expect: [null]
System.print(methods.containsKey("plain()")) // expect: false
System.print(methods.count) // expect: 5
