// The same inside a block, where the class is a local variable.
System.print("before")  // expect: before
{
  class Bar is Bar {} // expect runtime error: Class 'Bar' cannot inherit from a non-class object.
}
