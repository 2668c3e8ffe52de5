import "meta" for Meta
import "./_lib/vars" for One
var vars = Meta.getModuleVariables("./tests/wren/scripts/meta/_lib/vars")
System.print(vars.contains("One")) // expect: true
System.print(vars.contains("Two")) // expect: true
System.print(vars.contains("vars")) // expect: false
