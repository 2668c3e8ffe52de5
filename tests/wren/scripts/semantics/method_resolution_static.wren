class Foo {
  static a() { "a calls " + b() }
  static b() { "b" }
  static c { d }
  static d { "d getter" }
}
System.print(Foo.a()) // expect: a calls b
System.print(Foo.c) // expect: d getter
