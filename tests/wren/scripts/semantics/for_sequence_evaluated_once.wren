var evaluations = 0
var seq = Fn.new {
  evaluations = evaluations + 1
  return [1, 2, 3]
}
var sum = 0
for (x in seq.call()) sum = sum + x
System.print(sum) // expect: 6
System.print(evaluations) // expect: 1
