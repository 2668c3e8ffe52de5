class Once {
  construct new() {}
  iterate(i) { i == null ? "started" : null }
  iteratorValue(i) { i }
}
for (x in Once.new()) System.print(x) // expect: started
System.print("done") // expect: done
