class Foo {}
class Bar is Foo {}
System.print(Object.supertype) // expect: null
System.print(Class.supertype) // expect: Object
System.print(List.supertype) // expect: Sequence
System.print(Map.supertype) // expect: Sequence
System.print(Range.supertype) // expect: Sequence
System.print(String.supertype) // expect: Sequence
System.print(Sequence.supertype) // expect: Object
System.print(Num.supertype) // expect: Object
System.print(Fn.supertype) // expect: Object
System.print(Fiber.supertype) // expect: Object
System.print(Bool.supertype) // expect: Object
System.print(Null.supertype) // expect: Object
System.print(MapSequence.supertype) // expect: Sequence
System.print(Bar.supertype) // expect: Foo
System.print(Foo.supertype) // expect: Object
System.print(Bar.supertype.supertype) // expect: Object
