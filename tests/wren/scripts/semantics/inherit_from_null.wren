var Nothing = null
class Foo is Nothing {} // expect runtime error: Class 'Foo' cannot inherit from a non-class object.
