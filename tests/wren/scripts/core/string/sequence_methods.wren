System.print("abc".map {|c| c + c }.join()) // expect: aabbcc
System.print("hello".where {|c| c != "l" }.join()) // expect: heo
System.print("abc".join(",")) // expect: a,b,c
System.print("abc".count {|c| c != "b" }) // expect: 2
System.print("abc".any {|c| c == "c" }) // expect: true
System.print("abc".all {|c| c == "c" }) // expect: false
System.print("".isEmpty) // expect: true
System.print("a".isEmpty) // expect: false
System.print("héllo".skip(1).take(2).join()) // expect: él
System.print("abc".reduce {|a, b| b + a }) // expect: cba
