class Doubler {
  construct new() {}
  call(x) { x * 2 }
}
System.print([1, 2, 3].map(Doubler.new()).toList) // expect: [2, 4, 6]
System.print([1, 2, 3].where(Fn.new {|x| x != 2 }).toList) // expect: [1, 3]
class Printer {
  construct new() {}
  call(x) { System.print("got %(x)") }
}
[1, 2].each(Printer.new())
// expect: got 1
// expect: got 2
