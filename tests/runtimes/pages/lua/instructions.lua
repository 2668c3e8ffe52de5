-- Finite but longer than the test's instruction budget, and fast enough to
-- finish well inside the wall-time budget if instructions were not counted.
local x = 0
for i = 1, 1e9 do x = x + i end
print(x)
