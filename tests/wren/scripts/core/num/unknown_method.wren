System.print(1.foo(1, 2)) // expect runtime error: Num does not implement 'foo(_,_)'.
