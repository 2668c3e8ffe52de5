System.new() // expect runtime error: System metaclass does not implement 'new()'.
