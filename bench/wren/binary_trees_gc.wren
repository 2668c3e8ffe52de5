// Binary trees, collector variant: keeps a rolling window of finished trees
// alive (so each collection has live data to trace) and forces collections.

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

var window = List.filled(32, null)
var total = 0
var built = 0
for (round in 1..40) {
  for (i in 1..96) {
    var tree = Tree.new(i, 8)
    window[(built % window.count)] = tree
    built = built + 1
    total = total + tree.check
  }
  System.gc()
  var kept = 0
  for (tree in window) {
    if (tree != null) kept = kept + tree.check
  }
  total = total + kept
}

System.print("trees built: %(built)")
System.print("checksum: %(total)")
System.print("elapsed: %(System.clock - start)")
