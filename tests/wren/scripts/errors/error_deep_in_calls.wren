class Chain {
  static a() { b() }
  static b() { c() }
  static c() { null.nope } // expect runtime error: Null does not implement 'nope'.
}
Chain.a()
