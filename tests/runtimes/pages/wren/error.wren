var value = 41
var explode = Fn.new {
  Fiber.abort("conformance failure on purpose")
}
explode.call()
