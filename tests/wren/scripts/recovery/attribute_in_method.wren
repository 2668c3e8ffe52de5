class Foo {
  #!keep
  method() {
    #key = "value" // expect error
    return 1
  }
}
