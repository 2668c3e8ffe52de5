System.print("never runs")
var = "oops"
