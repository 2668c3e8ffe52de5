var Sides = 4
class Square {
  construct new(size) { _size = size }
  sides { Sides }
  area { _size * _size }
}
