System.print(null) // expect: null
System.print(true) // expect: true
System.print(false) // expect: false
var nullable = "maybe"
var trueish = "names may start with a keyword"
System.print(nullable) // expect: maybe
System.print(trueish) // expect: names may start with a keyword
