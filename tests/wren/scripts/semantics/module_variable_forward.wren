// A capitalized module variable may be used before its declaration.
var f = Fn.new { Later }
System.print(Later) // expect: null
var Later = "later"
System.print(f.call()) // expect: later
class UsesLater {
  static get { Constant }
}
var Constant = 42
System.print(UsesLater.get) // expect: 42
