System.print("abcd"[0]) // expect: a
System.print("abcd"[3]) // expect: d
System.print("abcd"[-1]) // expect: d
System.print("abcd"[-4]) // expect: a
System.print("abcd"[1..2]) // expect: bc
System.print("abcd"[1...3]) // expect: bc
System.print("abcd"[0..-1]) // expect: abcd
System.print("abcd"[-3..-2]) // expect: bc
System.print("abcd"[2...2] == "") // expect: true
System.print("abcd"[4..-1] == "") // expect: true
System.print("abcd"[4...4] == "") // expect: true
System.print("abcd"[3..0]) // expect: dcba
