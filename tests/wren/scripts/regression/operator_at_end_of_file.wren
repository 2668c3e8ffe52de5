// A binary operator with nothing after it, the file ending on its line (no newline).
var a = 2
// expect error line 4
var b = a *