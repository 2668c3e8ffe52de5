-- The victim reads its cache entries back: did anything of another site change them?
local secret = fs.read("_secret.txt")
local same = cache.get("secret") == secret
local counter = cache.get("counter") == 10
print("secret=" .. (same and "same" or "changed") .. " counter=" .. (counter and "same" or "changed"))
