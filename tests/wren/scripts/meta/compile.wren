import "meta" for Meta
var fn = Meta.compile("System.print(\"compiled\")")
System.print("not yet") // expect: not yet
fn.call() // expect: compiled
fn.call() // expect: compiled
