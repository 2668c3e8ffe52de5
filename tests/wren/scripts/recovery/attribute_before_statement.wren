var a = 1
#key // expect error
a = 2
#!group(x = 1)

// expect error
var b = a
#key
class Ok {}
