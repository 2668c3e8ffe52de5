System.print({} == {}) // expect: false
var m = {1: 2}
System.print(m == m) // expect: true
System.print(m != {1: 2}) // expect: true
