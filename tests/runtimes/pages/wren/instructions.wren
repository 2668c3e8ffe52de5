// Finite but longer than the test's instruction budget.
var x = 0
for (i in 1..1e9) x = x + i
System.print(x)
