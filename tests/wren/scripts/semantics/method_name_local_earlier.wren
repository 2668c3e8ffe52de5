// A local declared before the class (and in scope) wins over a method of that name.
{
  var name = "local"
  class Foo {
    construct new() {}
    name { "method" }
    test {
      System.print(name)
      var name = "inner"
      System.print(name)
    }
  }
  Foo.new().test
  // expect: local
  // expect: inner
}
