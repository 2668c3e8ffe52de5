class Foo {
  construct new() {}
}
class Custom {
  construct new() {}
  toString { "custom text" }
}
System.print(Foo) // expect: Foo
System.print(Foo.type) // expect: Foo metaclass
System.print(Foo.new()) // expect: instance of Foo
System.print(Custom.new()) // expect: custom text
System.print([Custom.new(), Foo.new()]) // expect: [custom text, instance of Foo]
System.print({1: Custom.new()}) // expect: {1: custom text}
System.print("in %(Custom.new())") // expect: in custom text
System.print(Fn.new {}) // expect: <fn>
System.print(Fiber.new {}) // expect: instance of Fiber
System.print(null) // expect: null
System.print(true) // expect: true
System.print(false) // expect: false
System.print(1..3) // expect: 1..3
System.print(1...3) // expect: 1...3
System.print(List) // expect: List
