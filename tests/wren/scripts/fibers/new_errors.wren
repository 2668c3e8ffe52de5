System.print(Fiber.new { Fiber.new(1) }.try()) // expect: Argument must be a function.
class Callable {
  construct new() {}
  call() { "called" }
}
System.print(Fiber.new { Fiber.new(Callable.new()) }.try()) // expect: Argument must be a function.
System.print(Fiber.new { Fiber.new {|a, b| a } }.try()) // expect: Function cannot take more than one parameter.
