// Class 9: a status and headers the page takes from the query: 1xx statuses, header names that are
// not tokens, values with control characters.
var q = Request.query
if (q["status"] != null) Response.status = Num.fromString(q["status"])
if (q["name"] != null) {
  Response.header(q["name"], q["value"] == null ? "x" : q["value"])
} else if (q["value"] != null) {
  Response.header("x-hostile", q["value"])
}
System.print("framed")
