-- Shared by the demo pages; folders starting with _ are never served.
local M = {}

function M.escape(s)
  return (tostring(s):gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;"}))
end

function M.page(title, body)
  return "<!doctype html><html><head><meta charset=utf-8><title>" .. M.escape(title) ..
    "</title><link rel=stylesheet href=/assets/style.css></head><body><h1>" .. M.escape(title) ..
    "</h1>" .. body .. "<p><a href=/>Home</a></p></body></html>\n"
end

return M
