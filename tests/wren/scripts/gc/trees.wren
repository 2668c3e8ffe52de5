class Tree {
  construct new(item, depth) {
    _item = item
    if (depth > 0) {
      _left = Tree.new(item * 2 - 1, depth - 1)
      _right = Tree.new(item * 2, depth - 1)
    }
  }
  check { _left == null ? _item : _item + _left.check - _right.check }
}
var long = Tree.new(0, 10)
var total = 0
for (i in 1..200) {
  total = total + Tree.new(i, 6).check + Tree.new(-i, 6).check
  if (i % 50 == 0) System.gc()
}
System.print(total) // expect: -400
System.print(long.check) // expect: -1
