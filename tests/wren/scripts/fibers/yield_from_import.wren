var f = Fiber.new {
  System.print("importing")
  import "./_lib/yields"
  System.print("imported")
}
System.print(f.call())
System.print("main resumes fiber")
f.call()
// expect: importing
// expect: module start
// expect: from module
// expect: main resumes fiber
// expect: module end
// expect: imported
