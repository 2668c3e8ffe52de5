var Sides = "main's own Sides"
import "./_lib/shapes" for Square
var sq = Square.new(3)
System.print(sq.area) // expect: 9
System.print(sq.sides) // expect: 4
System.print(Sides) // expect: main's own Sides
