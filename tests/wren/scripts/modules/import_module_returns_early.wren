import "./_lib/returns_early" for Before
System.print(Before) // expect: before return
