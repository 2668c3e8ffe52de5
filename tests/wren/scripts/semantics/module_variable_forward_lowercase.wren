var f = Fn.new { later }
var later = "x" // expect error