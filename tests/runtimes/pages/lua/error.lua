local value = 41
local function explode()
  error("conformance failure on purpose")
end
explode()
