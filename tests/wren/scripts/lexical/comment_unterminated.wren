System.print("never printed")
/* this block comment is never closed // expect error