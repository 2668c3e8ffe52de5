import "meta" for Meta
Meta.eval("System.print(\"from eval\")") // expect: from eval
var Shared = "module var"
Meta.eval("System.print(Shared)") // expect: module var
var lower = 1
Meta.eval("lower = lower + 41")
System.print(lower) // expect: 42
Meta.eval("System.print([1, 2].map {|x| x + lower }.toList)") // expect: [43, 44]
