// /wren/counter: the host cache (shared with the other languages' counters) and files in the site.
import "./_lib/layout" for Layout

var visits = Cache.incr("demo:visits", 1)
var motd = Cache.get("demo:motd")
if (motd == null) {
  motd = Fs.read("data/motd.txt")  // Fs paths start at the site root, not at this page's folder
  Cache.set("demo:motd", motd, 30)  // cached for 30 seconds
}
Log.info("wren counter page, visit %(visits)")
Response.write(Layout.page("Cache and files",
  "<p>Visited %(visits) times (shared with /counter).</p>" +
  "<p>Message of the day (from data/motd.txt, cached): %(Layout.escape(motd))</p>" +
  "<p>Files in data/: %(Layout.escape(Fs.list("data").join(", ")))</p>"))
