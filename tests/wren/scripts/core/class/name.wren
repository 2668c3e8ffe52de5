class Foo {}
System.print(Foo.name) // expect: Foo
System.print(List.name) // expect: List
System.print(Foo.name is String) // expect: true
System.print(Foo.toString) // expect: Foo
System.print(Foo.type.name) // expect: Foo metaclass
System.print(Object.type.name) // expect: Object metaclass
System.print(Class.name) // expect: Class
