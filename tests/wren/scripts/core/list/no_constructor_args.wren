List.new(3) // expect runtime error: List metaclass does not implement 'new(_)'.
