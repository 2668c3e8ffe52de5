var m = {1: 2}
System.print(m.count {|e| e.value == 2 }) // expect: 1
System.print(m.map {|e| e.key + e.value }.toList) // expect: [3]
System.print(m.toList[0].key) // expect: 1
System.print(m.any {|e| e.key == 1 }) // expect: true
System.print(m.where {|e| false }.toList) // expect: []
