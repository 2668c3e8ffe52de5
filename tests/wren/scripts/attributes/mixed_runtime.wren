// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
#hidden = 1
#!shown = 2
class Foo {}
System.print(Foo.attributes.self[null]) // expect: {shown: [2]}
