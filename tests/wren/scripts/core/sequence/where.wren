System.print([1, 2, 3, 4].where {|x| x % 2 == 0 }.toList) // expect: [2, 4]
System.print([1, 2].where {|x| false }.toList) // expect: []
var w = [1, 2, 3].where {|x| x != 2 }
System.print(w.type) // expect: WhereSequence
System.print(w.map {|x| x * 100 }.toList) // expect: [100, 300]
