// A class naming itself as its superclass: the variable exists but holds no class yet.
class Foo is Foo {} // expect runtime error: Class 'Foo' cannot inherit from a non-class object.
