var a = 1 2 // expect error
var b = ) // not reported: the reference compiler stops at a statement not followed by a newline
