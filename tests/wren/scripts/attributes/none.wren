// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
class Plain {}
System.print(Plain.attributes) // expect: null
#compiledOut
class Hidden {}
System.print(Hidden.attributes) // expect: null
#key = "value"
#group(a, b = 1)
class AlsoHidden {
  #method
  foo() {}
}
System.print(AlsoHidden.attributes) // expect: null
