// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
#!key = "value"
class Foo {}
System.print(Foo.attributes.self) // expect: {null: {key: [value]}}
System.print(Foo.attributes.self[null]["key"]) // expect: [value]
