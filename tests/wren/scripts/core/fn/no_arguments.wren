Fn.new() // expect runtime error: Fn metaclass does not implement 'new()'.
