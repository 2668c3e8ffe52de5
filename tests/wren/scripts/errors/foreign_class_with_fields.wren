class Base {
  construct new() { _field = 1 }
}
foreign class Native is Base {} // expect runtime error: Foreign class 'Native' may not inherit from a class with fields.
