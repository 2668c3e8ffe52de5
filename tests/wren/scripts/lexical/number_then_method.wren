// A fraction needs a digit after the dot, so "1.e" calls "e" on 1.
System.print(1.5.floor) // expect: 1
System.print(3.abs) // expect: 3
System.print(2.5.ceil) // expect: 3
1.e // expect runtime error: Num does not implement 'e'.
