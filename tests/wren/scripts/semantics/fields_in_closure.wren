class Acc {
  construct new() { _total = 0 }
  adder { Fn.new {|n| _total = _total + n } }
  total { _total }
}
var acc = Acc.new()
var add = acc.adder
add.call(3)
add.call(4)
System.print(acc.total) // expect: 7
