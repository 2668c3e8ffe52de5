var n = 1
n.call(2) // expect runtime error: Num does not implement 'call(_)'.
