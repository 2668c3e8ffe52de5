var a = ) // expect error
var xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx = 1 // expect error
var c = 1 ÿþ // expect error
var b =  // not reported: the statement before did not end its line
