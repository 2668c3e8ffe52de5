var n = 1
n.x = 2 // expect runtime error: Num does not implement 'x=(_)'.
