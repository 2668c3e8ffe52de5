var m = {-1: "minus", !true: "not", [1][0]: "one", "a".count: "count"}
System.print(m[-1]) // expect: minus
System.print(m[false]) // expect: not
System.print(m[1]) // expect: count
