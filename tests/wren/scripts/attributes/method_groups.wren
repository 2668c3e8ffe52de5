// Attributes start on line 2: a "#!" on line 1 could be read as a shebang.
class Foo {
  #!route(path = "/home", method = get)
  home() {}
}
var group = Foo.attributes.methods["home()"]["route"]
System.print(group["path"]) // expect: [/home]
System.print(group["method"]) // expect: [get]
