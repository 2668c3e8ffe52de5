class Grid {
  construct new() { _cells = {} }
  [x, y] { _cells["%(x),%(y)"] }
  [x, y]=(value) { _cells["%(x),%(y)"] = value }
  [i] { "single %(i)" }
}
var g = Grid.new()
g[1, 2] = "a"
System.print(g[1, 2]) // expect: a
System.print(g[2, 1]) // expect: null
System.print(g[7]) // expect: single 7
