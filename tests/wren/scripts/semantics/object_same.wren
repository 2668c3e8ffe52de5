System.print(Object.same(1, 1)) // expect: true
System.print(Object.same(1, 2)) // expect: false
System.print(Object.same("ab", "a" + "b")) // expect: true
System.print(Object.same(1..2, 1..2)) // expect: true
System.print(Object.same([], [])) // expect: false
System.print(Object.same(null, null)) // expect: true
System.print(Object.same(Num, Num)) // expect: true
System.print(Object.same(true, 1)) // expect: false
