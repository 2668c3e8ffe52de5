System.print(Fiber.new {|x| x * 2 }.call(21)) // expect: 42
System.print(Fiber.new {|x| x }.call()) // expect: null
System.print(Fiber.new { "no parameter" }.call("ignored")) // expect: no parameter
System.print(Fiber.new {|x| x }.try("via try")) // expect: via try
