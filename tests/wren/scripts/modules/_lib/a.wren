System.print("a runs")
var A = "value of A"
var B = "value of B"
class Greeter {
  static greet(name) { "hello %(name)" }
}
