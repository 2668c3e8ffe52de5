var a = 1 +
  2
System.print(a) // expect: 3
var b = [
  1,
  2,
]
System.print(b) // expect: [1, 2]
var c = {
  "k": "v"
}
System.print(c) // expect: {k: v}
var f = Fn.new {|x, y| x + y }
System.print(f.call(
  "multi",
  "line"
)) // expect: multiline
var d = true &&
  false
System.print(d) // expect: false
var e = 1 ==
  1
System.print(e) // expect: true
var g =
  "after equals"
System.print(g) // expect: after equals
