var n = 1
n[0] // expect runtime error: Num does not implement '[_]'.
