var list = [1, 2, 3]
System.print("%(list.map {|x| x * 2 }.toList)") // expect: [2, 4, 6]
System.print("%(list.count > 2 ? "many" : "few")") // expect: many
System.print("%({"k": "v"}["k"])") // expect: v
System.print("%(Fn.new { "from fn" }.call())") // expect: from fn
System.print("%((1..3).reduce {|a, b| a + b })") // expect: 6
