for (i in 1..3) {
  System.print(i)
  i = i * 10
}
// expect: 1
// expect: 2
// expect: 3
