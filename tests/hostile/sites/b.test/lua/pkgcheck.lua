-- What the victim's page finds of package, io and debug after the attacker's page ran.
response.write(table.concat({
  type(require("string")), type(package.loaded.string), tostring(package.preload.hello), package.path,
  tostring(io.stdout.write ~= nil), tostring(debug.sethook),
  type(cache.get), type(log.info), json.encode({1}), type(template.render), type(http.request), type(io.write),
  type(debug.traceback),
}, " "))
