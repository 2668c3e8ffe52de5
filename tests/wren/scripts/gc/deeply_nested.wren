var root = []
var node = root
for (i in 1..10000) {
  var child = []
  node.add(child)
  node = child
}
System.gc()
var depth = 0
node = root
while (node.count > 0) {
  node = node[0]
  depth = depth + 1
}
System.print(depth) // expect: 10000
