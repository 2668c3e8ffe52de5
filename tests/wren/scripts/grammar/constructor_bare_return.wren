class Foo {
  construct new(early) {
    _value = "start"
    if (early) return
    _value = "finished"
  }
  value { _value }
}
System.print(Foo.new(true).value) // expect: start
System.print(Foo.new(false).value) // expect: finished
System.print(Foo.new(true) is Foo) // expect: true
