import "meta" for Meta
var Before = 1
var vars = Meta.getModuleVariables("./tests/wren/scripts/meta/get_module_variables")
System.print(vars is List) // expect: true
System.print(vars.contains("Before")) // expect: true
System.print(vars.contains("After")) // expect: true
System.print(vars.contains("vars")) // expect: true
System.print(vars.contains("Meta")) // expect: true
System.print(vars.contains("Object")) // expect: true
System.print(vars.contains("Nope")) // expect: false
var After = 2
