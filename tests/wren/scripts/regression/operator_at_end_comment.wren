// A comment after the operator: the error is on the line where the input ends.
var d = 3 &&
/* a comment
   on two lines */
// expect error line 6
// last line