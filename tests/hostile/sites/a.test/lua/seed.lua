-- Class 10: seed the generator and leave it at the start of the seed-1 sequence, hoping the
-- next request (another site's) draws from it.
math.randomseed(1)
local seq = {}
for i = 1, 20 do seq[i] = math.random(1, 1000000000) end
math.randomseed(1)
print(table.concat(seq, " "))
