class Countdown is Sequence {
  construct new(n) { _n = n }
  iterate(i) {
    if (i == null) return _n > 0 ? _n : false
    return i > 1 ? i - 1 : false
  }
  iteratorValue(i) { i }
}
var c = Countdown.new(3)
System.print(c.toList) // expect: [3, 2, 1]
System.print(c.map {|x| x * 10 }.toList) // expect: [30, 20, 10]
System.print(c.count) // expect: 3
System.print(c.contains(2)) // expect: true
System.print(c.join("-")) // expect: 3-2-1
System.print(Countdown.new(0).isEmpty) // expect: true
