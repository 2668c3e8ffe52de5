class Evens is Sequence {
  construct new(limit) { _limit = limit }
  iterate(i) {
    if (i == null) return 0
    if (i + 2 > _limit) return false
    return i + 2
  }
  iteratorValue(i) { i }
}
var evens = Evens.new(10)
System.print(evens.toList) // expect: [0, 2, 4, 6, 8, 10]
System.print(evens.count) // expect: 6
System.print(evens.where {|x| x > 4 }.toList) // expect: [6, 8, 10]
System.print(evens.reduce {|a, b| a + b }) // expect: 30
System.print(evens.skip(4).toList) // expect: [8, 10]
System.print(evens.take(2).toList) // expect: [0, 2]
System.print(evens.join(",")) // expect: 0,2,4,6,8,10
System.print(evens.contains(4)) // expect: true
System.print(evens.isEmpty) // expect: false
System.print(evens.any {|x| x > 9 }) // expect: true
System.print(evens.all {|x| x % 2 == 0 }) // expect: true
