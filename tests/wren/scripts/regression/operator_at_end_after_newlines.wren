// A binary operator whose right operand is missing at the end of the input: the
// error is on the line where the input ends (after the newlines the operator skips).
var a = 1
// expect error line 8
var b = a +


