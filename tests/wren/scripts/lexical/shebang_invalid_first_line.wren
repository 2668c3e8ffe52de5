#/usr/bin/env wren // expect error
System.print("never printed")