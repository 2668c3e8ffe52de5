// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
#!name = identifier
#!text = "string"
#!flag = true
#!off = false
#!number = 12.5
#!bare
class Foo {}
var self = Foo.attributes.self[null]
System.print(self["name"]) // expect: [identifier]
System.print(self["name"][0] is String) // expect: true
System.print(self["text"]) // expect: [string]
System.print(self["flag"]) // expect: [true]
System.print(self["off"]) // expect: [false]
System.print(self["number"]) // expect: [12.5]
System.print(self["bare"]) // expect: [null]
System.print(self.count) // expect: 6
