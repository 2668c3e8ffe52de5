var One = 1
var Two = 2
