var calls = 0
var mapped = [1, 2, 3].map {|x|
  calls = calls + 1
  return x * 2
}
System.print(calls) // expect: 0
System.print(mapped.toList) // expect: [2, 4, 6]
System.print(calls) // expect: 3
System.print(mapped.toList) // expect: [2, 4, 6]
System.print(calls) // expect: 6
System.print(mapped) // expect: instance of MapSequence
System.print(mapped.type) // expect: MapSequence
var list = [1, 2]
var view = list.map {|x| x * 10 }
list.add(3)
System.print(view.toList) // expect: [10, 20, 30]
