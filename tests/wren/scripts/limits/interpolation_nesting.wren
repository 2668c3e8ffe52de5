// Interpolation may nest 8 levels deep.
System.print("%("%("%("%("%("%("%("%("a")")")")")")")")") // expect: a
