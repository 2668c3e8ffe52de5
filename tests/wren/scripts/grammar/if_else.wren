if (true) System.print("then") // expect: then
if (false) System.print("no") else System.print("else") // expect: else
if (true) {
  System.print("block then") // expect: block then
} else {
  System.print("no")
}
if (false) {
  System.print("no")
} else if (true) {
  System.print("else if") // expect: else if
} else {
  System.print("no")
}
if (1) System.print("one is truthy") // expect: one is truthy
if (null) System.print("no") else System.print("null is falsy") // expect: null is falsy
