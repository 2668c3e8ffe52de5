// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
#!key = 1
class Parent {}
class Child is Parent {}
System.print(Parent.attributes.self[null]["key"]) // expect: [1]
System.print(Child.attributes) // expect: null
