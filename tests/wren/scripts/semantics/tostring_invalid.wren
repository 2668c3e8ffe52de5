class Bad {
  construct new() {}
  toString { 123 }
}
System.print(Bad.new()) // expect: [invalid toString]
System.print("ok") // expect: ok
