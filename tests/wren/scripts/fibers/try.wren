var f = Fiber.new {
  System.print("before")
  Fiber.abort("boom")
  System.print("never")
}
System.print(f.try())
// expect: before
// expect: boom
System.print(f.isDone) // expect: true
System.print(f.error) // expect: boom
System.print(Fiber.new { "fine" }.try()) // expect: fine
var ok = Fiber.new {}
ok.try()
System.print(ok.error) // expect: null
System.print(ok.isDone) // expect: true
