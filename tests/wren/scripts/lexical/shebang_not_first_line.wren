System.print("never printed")
#!/usr/bin/env wren // expect error