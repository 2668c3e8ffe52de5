import "./_lib/uses_core" for Summary
System.print(Summary) // expect: [2, 4, 6] 1 1..3
