import "meta" for Meta
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { Meta.eval(1) } // expect: Source code must be a string.
check.call { Meta.compileExpression(1) } // expect: Source code must be a string.
check.call { Meta.compile(null) } // expect: Source code must be a string.
check.call { Meta.getModuleVariables(1) } // expect: Module name must be a string.
check.call { Meta.getModuleVariables("nope") } // expect: Could not find a module named 'nope'.
