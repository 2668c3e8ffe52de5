Fn.new(null) // expect runtime error: Argument must be a function.
