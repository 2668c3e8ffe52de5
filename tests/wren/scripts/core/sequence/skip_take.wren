System.print([1, 2, 3, 4].skip(2).toList) // expect: [3, 4]
System.print([1, 2, 3].skip(0).toList) // expect: [1, 2, 3]
System.print([1, 2, 3].skip(10).toList) // expect: []
System.print([1, 2, 3].take(2).toList) // expect: [1, 2]
System.print([1, 2, 3].take(0).toList) // expect: []
System.print([1, 2, 3].take(10).toList) // expect: [1, 2, 3]
System.print((1..1000000000).take(3).toList) // expect: [1, 2, 3]
System.print((1..1000000000).map {|x| x * x }.take(3).toList) // expect: [1, 4, 9]
System.print((1..10).skip(8).toList) // expect: [9, 10]
System.print((1..10).skip(2).take(3).toList) // expect: [3, 4, 5]
System.print([1].skip(0).type) // expect: SkipSequence
System.print([1].take(1).type) // expect: TakeSequence
