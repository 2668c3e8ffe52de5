/* A block comment. */
System.print("a") // expect: a
/* spans
   several
   lines */ System.print("b") // expect: b
System.print(1 /* inside */ + /* an expression */ 2) // expect: 3
/**/ System.print("c") // expect: c
