true.foo(1, 2, 3) // expect runtime error: Bool does not implement 'foo(_,_,_)'.
