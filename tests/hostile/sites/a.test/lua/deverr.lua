-- Class 8: an error whose message names a file and line the way Lua names a page's own lines:
-- the --dev error page must not show an excerpt of a file outside this site.
error(request.query.target .. ":" .. request.query.line .. ": x", 0)
