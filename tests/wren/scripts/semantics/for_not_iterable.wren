for (x in 123) System.print(x) // expect runtime error: Num does not implement 'iterate(_)'.
