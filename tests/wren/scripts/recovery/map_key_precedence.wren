var a = {1 + 2: "x"} // expect error
var b = {1: 2}
var c = {!true: 1}
