for (i in 1..10) {
  if (i == 4) break
  if (i % 2 == 0) continue
  System.print(i)
}
// expect: 1
// expect: 3
var n = 0
while (true) {
  n = n + 1
  if (n < 3) continue
  break
}
System.print(n) // expect: 3
for (i in 1..2) {
  for (j in 1..3) {
    if (j == 2) break
    System.print("%(i) %(j)")
  }
}
// expect: 1 1
// expect: 2 1
