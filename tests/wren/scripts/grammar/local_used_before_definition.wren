System.print(later)
var later = 1 // expect error