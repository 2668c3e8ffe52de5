var calls = []
var record = Fn.new {|value|
  calls.add(value)
  return value
}
System.print(record.call(false) && record.call("never")) // expect: false
System.print(record.call(true) || record.call("never")) // expect: true
System.print(record.call(null) || record.call("second")) // expect: second
System.print(calls) // expect: [false, true, null, second]
var c = 0
var r = true ? "picked" : (c = c + 1)
System.print(r) // expect: picked
var s = false ? (c = c + 1) : "other"
System.print(s) // expect: other
System.print(c) // expect: 0
