import "./_lib/counter" for Value, Counter
Counter.bump()
Counter.bump()
System.print(Value) // expect: 1
System.print(Counter.value) // expect: 3
