import "meta" for Meta

// Class 3: reach another request while it waits: its suspended fiber through state the prelude
// shares (Host.waiting), the module of its page (page#N), or its site's modules; run it here, so
// that what it writes comes into this response.
var tag = Request.query["tag"]
var victimRoot = Request.query["victim"]
var me = Fiber.current
var report = []
Log.warn("hostile-inflight %(tag)")

// A site module of the victim's, by relative and absolute name.
var names = ["../../b.test/wren/_lib/store", "./../../b.test/wren/_lib/store", "%(victimRoot)/wren/_lib/store"]
for (i in 0...names.count) {
  var name = names[i]
  var got = Fiber.new {
    // Each import binds a module variable of its own: one name twice does not compile.
    var fn = Meta.compile("import \"%(name)\" for Store as Store%(i)\nreturn Store%(i).value")
    return fn == null ? "no compile" : fn.call()
  }.try()
  report.add("import %(name): %(got)")
}

var seen = {}
var round = 0
while (round < 40) {
  var f = Fiber.new { Host.waiting }.try()
  if (f is Fiber && f != me && !f.isDone) {
    // Resume it as if its host call had answered: it goes on inside this request. A root fiber
    // cannot be called; it can be transferred to, and then this page never goes on, so what it
    // found so far is written first.
    var got = Fiber.new { f.call([true, null]) }.try()
    report.add("resumed a fiber: %(got)")
    System.print(report.join("\n"))
    f.transfer([true, null])
  }
  // Other requests' page modules: their variables while they run.
  for (i in 1..200) {
    var names = Fiber.new { Meta.getModuleVariables("page#%(i)") }.try()
    if (names is List && names.contains("secret") && !seen.containsKey(i)) {
      seen[i] = true
      report.add("seen-module page#%(i): it has a variable named secret")
    }
  }
  Host.sleep(0.02)
  round = round + 1
}
System.print(report.join("\n"))
System.print("done")
