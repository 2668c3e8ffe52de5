for (i in [1, 2, 3]) System.print(i)
// expect: 1
// expect: 2
// expect: 3
for (c in "ab") {
  System.print(c)
}
// expect: a
// expect: b
for (i in 1..0) System.print(i)
// expect: 1
// expect: 0
for (x in []) System.print("never")
System.print("end") // expect: end
