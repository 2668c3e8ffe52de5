System.print((1..3).type) // expect: Range
System.print((1...3).isInclusive) // expect: false
System.print((1.5..2.5).from) // expect: 1.5
System.print((1.5..2.5).to) // expect: 2.5
