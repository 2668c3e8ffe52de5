var First = "first"
var Second = "second"
