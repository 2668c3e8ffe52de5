System.print({}) // expect: {}
System.print({1: 2}) // expect: {1: 2}
System.print({"a": [1, 2]}) // expect: {a: [1, 2]}
System.print({null: null}) // expect: {null: null}
System.print({(1..2): true}) // expect: {1..2: true}
System.print({1: {2: {}}}) // expect: {1: {2: {}}}
System.print({"k": "v"}.toString == "{k: v}") // expect: true
