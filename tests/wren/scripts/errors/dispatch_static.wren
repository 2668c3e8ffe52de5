class Foo {}
Foo.bar() // expect runtime error: Foo metaclass does not implement 'bar()'.
