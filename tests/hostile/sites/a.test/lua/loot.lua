-- What the attacker's pages stored under "loot" in this site's cache (the cache is one namespace
-- per site, whatever language wrote it).
print("loot: " .. json.encode(cache.get("loot")))
