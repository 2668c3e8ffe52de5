// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
#!group(a = 1, b, c = "x")
#!other(d = true)
class Foo {}
var self = Foo.attributes.self
System.print(self["group"]["a"]) // expect: [1]
System.print(self["group"]["b"]) // expect: [null]
System.print(self["group"]["c"]) // expect: [x]
System.print(self["group"].count) // expect: 3
System.print(self["other"]) // expect: {d: [true]}
