class Animal {
  construct new(name) { _name = name }
  name { _name }
  speak() { "%(name) makes %(sound)" }
  sound { "a sound" }
  kind { "animal" }
}
class Dog is Animal {
  construct new(name) { super(name) }
  sound { "woof" }
}
class Puppy is Dog {
  construct new() { super("puppy") }
  kind { "young " + super.kind }
}
var d = Dog.new("rex")
System.print(d.speak()) // expect: rex makes woof
System.print(d.kind) // expect: animal
var p = Puppy.new()
System.print(p.speak()) // expect: puppy makes woof
System.print(p.kind) // expect: young animal
System.print(p is Puppy) // expect: true
System.print(p is Dog) // expect: true
System.print(p is Animal) // expect: true
System.print(p is Object) // expect: true
System.print(d is Puppy) // expect: false
