var empty = []
empty.reduce {|a, b| a + b } // expect runtime error: Can't reduce an empty sequence.
