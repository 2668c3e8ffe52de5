-- /counter: the host cache (shared by every request of this worker) and files in the site.
local layout = require("layout")
local visits = cache.incr("demo:visits", 1)
local motd = cache.get("demo:motd")
if motd == nil then
  motd = fs.read("data/motd.txt")
  cache.set("demo:motd", motd, 30)  -- cached for 30 seconds
end
log.info("counter page, visit " .. visits)
response.write(layout.page("Cache and files",
  "<p>This page was visited " .. visits .. " times.</p>" ..
  "<p>Message of the day (from data/motd.txt, cached): " .. layout.escape(motd) .. "</p>" ..
  "<p>Files in data/: " .. layout.escape(table.concat(fs.list("data"), ", ")) .. "</p>"))
