System.print([1, 2, 3].indexOf(2)) // expect: 1
System.print([1, 2, 3].indexOf(9)) // expect: -1
System.print(["a", "b"].indexOf("b")) // expect: 1
System.print([1, 2, 1].indexOf(1)) // expect: 0
System.print([[1]].indexOf([1])) // expect: -1
System.print([].indexOf(null)) // expect: -1
System.print([null].indexOf(null)) // expect: 0
