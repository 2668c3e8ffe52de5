System.print([]) // expect: []
System.print([1, "a", [2], null, true, 1..2]) // expect: [1, a, [2], null, true, 1..2]
System.print([[[]]]) // expect: [[[]]]
System.print(["a b", ""]) // expect: [a b, ]
System.print([1, 2].toString == "[1, 2]") // expect: true
System.print([{1: 2}]) // expect: [{1: 2}]
