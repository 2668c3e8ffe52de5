System.print("a" + "b") // expect: ab
System.print("" + "") // expect:
System.print("x" + "" + "y") // expect: xy
System.print("é" + "ü") // expect: éü
var s = "start"
s = s + " end"
System.print(s) // expect: start end
