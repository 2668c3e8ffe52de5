import "meta" for Meta
var fn = Meta.compileExpression("1 + 2")
System.print(fn.call()) // expect: 3
System.print(fn is Fn) // expect: true
var X = 10
var twice = Meta.compileExpression("X * 2")
System.print(twice.call()) // expect: 20
X = 50
System.print(twice.call()) // expect: 100
