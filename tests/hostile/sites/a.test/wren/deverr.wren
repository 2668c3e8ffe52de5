// Class 8: an error whose message names a file and line (as Lua and Wren name a page's own lines):
// the --dev error page must not show an excerpt of a file outside this site.
var target = Request.query["target"]
var line = Request.query["line"]
Fiber.abort("%(target):%(line): x\n[%(target) line %(line)] Error: x")
