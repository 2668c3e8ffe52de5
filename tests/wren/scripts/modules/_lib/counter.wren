var Value = 1
class Counter {
  static bump() { Value = Value + 1 }
  static value { Value }
}
