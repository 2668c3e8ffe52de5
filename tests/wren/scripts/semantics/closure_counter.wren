var makeCounter = Fn.new {
  var n = 0
  return Fn.new {
    n = n + 1
    return n
  }
}
var a = makeCounter.call()
var b = makeCounter.call()
System.print(a.call()) // expect: 1
System.print(a.call()) // expect: 2
System.print(b.call()) // expect: 1
System.print(a.call()) // expect: 3
