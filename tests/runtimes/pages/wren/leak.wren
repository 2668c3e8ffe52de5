// A fresh module per request: what the last request set is gone.
System.print("global=%(Leaked == null ? "nil" : Leaked) string=%(Json.encode([1]) == "[1]" ? "clean" : "polluted")")
var Leaked = "set by an earlier request"
