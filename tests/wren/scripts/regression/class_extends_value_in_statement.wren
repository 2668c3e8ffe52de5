// A superclass computed by an expression in the class statement, which yields a string.
var Base = "not a class"
class Derived is (Base.count > 3 ? Base : null) {} // expect runtime error: Class 'Derived' cannot inherit from a non-class object.
System.print("unreached")
