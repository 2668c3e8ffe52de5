class Shape {
  construct square(side) {
    _w = side
    _h = side
  }
  construct rect(w, h) {
    _w = w
    _h = h
  }
  construct unit() { _w = _h = 1 }
  area { _w * _h }
}
System.print(Shape.square(3).area) // expect: 9
System.print(Shape.rect(2, 5).area) // expect: 10
System.print(Shape.unit().area) // expect: 1
System.print(Shape.square(2) is Shape) // expect: true
