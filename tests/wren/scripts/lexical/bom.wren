// A UTF-8 byte order mark at the start of the file is skipped.
System.print("bom skipped") // expect: bom skipped
