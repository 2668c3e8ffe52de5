var t = []
var i = 0
while (true) {
  t.add("x" * 1024 + i.toString)
  i = i + 1
}
