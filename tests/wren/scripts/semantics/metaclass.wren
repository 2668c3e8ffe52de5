class Foo {}
class Bar is Foo {}
System.print(Foo.type) // expect: Foo metaclass
System.print(Foo.type.name) // expect: Foo metaclass
System.print(Foo.type.type) // expect: Class
System.print(Foo.type.supertype) // expect: Class
System.print(Bar.type.supertype) // expect: Class
System.print(Bar.supertype) // expect: Foo
System.print(Foo.supertype) // expect: Object
System.print(Object.supertype) // expect: null
System.print(Class.supertype) // expect: Object
System.print(Foo is Foo.type) // expect: true
System.print(Foo.type is Class) // expect: true
