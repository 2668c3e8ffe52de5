#!/usr/bin/env wren
System.print("shebang ok") // expect: shebang ok
