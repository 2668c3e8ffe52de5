// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
#!key = 1
#!key = 2
#!key = "three"
class Foo {}
System.print(Foo.attributes.self[null]["key"]) // expect: [1, 2, three]
