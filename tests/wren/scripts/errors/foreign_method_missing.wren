class Foo {
  foreign bar() // expect runtime error: Could not find foreign method 'bar()' for class Foo in module './tests/wren/scripts/errors/foreign_method_missing'.
}
