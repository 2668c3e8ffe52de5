var b = true
b[0, 1] = 2 // expect runtime error: Bool does not implement '[_,_]=(_)'.
