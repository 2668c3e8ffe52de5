System.print("""raw %(not) \n interpolated""") // expect: raw %(not) \n interpolated
System.print("""say "hi" now""") // expect: say "hi" now
var block = """
  first
    second
  """
System.print(block)
// expect:   first
// expect:     second
var keep = """
line one
line two"""
System.print(keep)
// expect: line one
// expect: line two
System.print("""""".count) // expect: 0
