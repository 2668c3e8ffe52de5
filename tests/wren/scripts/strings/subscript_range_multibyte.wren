// Ranges count bytes; the result holds whole code points: a byte inside a
// character adds nothing, a byte starting one adds all of it.
var s = "aéb€c"
System.print(s.bytes.count) // expect: 8
System.print(s[0..1]) // expect: aé
System.print(s[1..1]) // expect: é
System.print(s[2..3]) // expect: b
System.print(s[2..2].count) // expect: 0
System.print(s[3..5]) // expect: b€
System.print(s[5..7]) // expect: c
System.print(s[0...2]) // expect: aé
System.print(s[-1..0]) // expect: c€béa
System.print(s[6..-1]) // expect: c
System.print("\xff\x41"[0..1]) // expect: A
