var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { 1 + "a" } // expect: Right operand must be a number.
check.call { 1 - null } // expect: Right operand must be a number.
check.call { 1 * [] } // expect: Right operand must be a number.
check.call { 1 / "x" } // expect: Right operand must be a number.
check.call { 1 % "x" } // expect: Right operand must be a number.
check.call { 1 < "x" } // expect: Right operand must be a number.
check.call { 1 > "x" } // expect: Right operand must be a number.
check.call { 1 <= "x" } // expect: Right operand must be a number.
check.call { 1 >= "x" } // expect: Right operand must be a number.
check.call { 1 & "x" } // expect: Right operand must be a number.
check.call { 1 | "x" } // expect: Right operand must be a number.
check.call { 1 ^ "x" } // expect: Right operand must be a number.
check.call { 1 << "x" } // expect: Right operand must be a number.
check.call { 1 >> "x" } // expect: Right operand must be a number.
check.call { 1.."x" } // expect: Right hand side of range must be a number.
check.call { 1..."x" } // expect: Right hand side of range must be a number.
check.call { 1.min("x") } // expect: Other value must be a number.
check.call { 1.max("x") } // expect: Other value must be a number.
check.call { 1.clamp("x", 2) } // expect: Min value must be a number.
check.call { 1.clamp(0, "x") } // expect: Max value must be a number.
check.call { 1.atan("x") } // expect: x value must be a number.
check.call { 1.pow("x") } // expect: Power value must be a number.
