import "meta" for Meta
import "./_lib/vars" for One
// A module is named as an import from this module would name it.
var vars = Meta.getModuleVariables("./_lib/vars")
System.print(vars.contains("One")) // expect: true
System.print(vars.contains("Two")) // expect: true
System.print(vars.contains("vars")) // expect: false
