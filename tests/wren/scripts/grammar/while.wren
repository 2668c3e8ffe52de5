var i = 0
while (i < 3) {
  System.print(i)
  i = i + 1
}
// expect: 0
// expect: 1
// expect: 2
var j = 3
while (j > 0) j = j - 1
System.print(j) // expect: 0
var k = "start"
while (k) k = null
System.print(k) // expect: null
