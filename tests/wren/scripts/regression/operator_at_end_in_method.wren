// A missing operand at the end of a method body: every error is at the end of the input.
class A {
  foo {
    // expect error line 5
    return 1 -