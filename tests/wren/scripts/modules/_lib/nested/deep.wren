import "../a" for A
var Deep = "deep sees " + A
