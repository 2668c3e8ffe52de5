var f = Fn.new {
  System.print("a") } // expect error
// expect error line 4
