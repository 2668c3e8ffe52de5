var depth = 0
var list = []
var current = list
for (i in 1..200) {
  var next = []
  current.add(next)
  current = next
}
current.add("bottom")
var node = list
while (node.count > 0 && node[0] is List) {
  node = node[0]
  depth = depth + 1
}
System.print(depth) // expect: 200
System.print(node[0]) // expect: bottom
