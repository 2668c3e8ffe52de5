// Binary trees: builds and walks many short-lived trees, one long-lived tree
// stays reachable the whole time, so the collector works under pressure.

var start = System.clock

class Tree {
  construct new(item, depth) {
    _item = item
    if (depth > 0) {
      var child = item + item
      _left = Tree.new(child - 1, depth - 1)
      _right = Tree.new(child, depth - 1)
    }
  }

  check {
    if (_left == null) return _item
    return _item + _left.check - _right.check
  }
}

var minDepth = 4
var maxDepth = 13
var stretchDepth = maxDepth + 1

System.print("stretch tree of depth %(stretchDepth) check: %(Tree.new(0, stretchDepth).check)")

var longLived = Tree.new(0, maxDepth)

var iterations = 2.pow(maxDepth)
var depth = minDepth
while (depth < stretchDepth) {
  var check = 0
  for (i in 1..iterations) {
    check = check + Tree.new(i, depth).check + Tree.new(-i, depth).check
  }
  System.print("%(iterations * 2) trees of depth %(depth) check: %(check)")
  iterations = iterations / 4
  depth = depth + 2
}

System.print("long lived tree of depth %(maxDepth) check: %(longLived.check)")
System.print("elapsed: %(System.clock - start)")
