System.print(Fs.read("data/hello.txt").trimEnd())
System.print("%(Fs.exists("data/hello.txt")) %(Fs.exists("data/missing.txt"))")
var f = Fiber.new { Fs.read("../../../../etc/passwd") }
f.try()
System.print("outside=" + (f.error == null ? "READ" : "denied"))
System.print("list=" + Fs.list("data").join(","))
