import "meta" for Meta
var vars = Meta.getModuleVariables("./tests/wren/scripts/meta/core_variables")
var names = ["Object", "Class", "Object metaclass", "Bool", "Fiber", "Fn", "Null", "Num", "Sequence", "MapSequence", "SkipSequence", "TakeSequence", "WhereSequence", "List", "String", "StringByteSequence", "StringCodePointSequence", "Map", "MapKeySequence", "MapValueSequence", "MapEntry", "Range", "System"]
var missing = names.where {|n| !vars.contains(n) }.toList
System.print(missing) // expect: []
