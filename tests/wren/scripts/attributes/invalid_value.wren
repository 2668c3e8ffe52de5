// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
#!key = [1] // expect error
class Foo {}