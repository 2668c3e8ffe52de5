System.print("1 + 2 = %(1 + 2)") // expect: 1 + 2 = 3
var name = "Wren"
System.print("Hello, %(name)!") // expect: Hello, Wren!
System.print("%(1)%(2)%(3)") // expect: 123
System.print("list %([1, 2])") // expect: list [1, 2]
System.print("nested %("inner %(1 + 1)")") // expect: nested inner 2
System.print("%(null) %(true)") // expect: null true
System.print("count %(name.count)") // expect: count 4
System.print("%("a" + "b")") // expect: ab
System.print("%(name)%(name)") // expect: WrenWren
System.print("before %( 1 + 1 ) after") // expect: before 2 after
