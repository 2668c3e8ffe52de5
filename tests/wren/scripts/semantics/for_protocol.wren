class Trace {
  construct new() {}
  iterate(i) {
    System.print("iterate %(i)")
    if (i == null) return 0
    return i < 2 ? i + 1 : false
  }
  iteratorValue(i) {
    System.print("value %(i)")
    return i * 100
  }
}
for (x in Trace.new()) System.print(x)
// expect: iterate null
// expect: value 0
// expect: 0
// expect: iterate 0
// expect: value 1
// expect: 100
// expect: iterate 1
// expect: value 2
// expect: 200
// expect: iterate 2
