-- Shared by the Lua pages: `local starter = require("starter")` loads _lib/starter.lua.
local M = {}

-- Text for HTML element content and quoted attributes.
function M.escape(text)
  return (tostring(text):gsub("[&<>\"']", {
    ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;",
  }))
end

function M.page(title, body)
  return '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>' .. M.escape(title) ..
    '</title><link rel="stylesheet" href="/assets/style.css"></head><body><main><h1>' .. M.escape(title) ..
    "</h1>" .. body .. '<p><a href="/">Home</a></p></main></body></html>\n'
end

return M
