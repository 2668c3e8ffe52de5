class Liar {
  construct new() {}
  is(other) { "asked about %(other)" }
}
System.print(Liar.new() is Num) // expect: asked about Num
System.print(Liar.new() is 3) // expect: asked about 3
