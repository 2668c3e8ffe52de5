// String equality: equal and unequal strings of several lengths, compared
// against copies built at run time (so no two are the same object).

var start = System.clock

var bases = ["", "a", "abc", "a somewhat longer string", "x" * 100]
var copies = bases.map {|s| s + "" }.toList
var others = bases.map {|s| s + "!" }.toList

var equal = 0
var unequal = 0
for (round in 1..150000) {
  for (i in 0...bases.count) {
    if (bases[i] == copies[i]) equal = equal + 1
    if (bases[i] == others[i]) equal = equal + 1
    if (bases[i] != others[i]) unequal = unequal + 1
  }
}

System.print(equal)
System.print(unequal)
System.print("elapsed: %(System.clock - start)")
