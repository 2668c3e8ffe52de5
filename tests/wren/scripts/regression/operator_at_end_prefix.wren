// A prefix operator, a comparison and a conditional at the end of the input.
// expect error line 3
var c = 1 < 2 ? - 