local chunk = string.rep("y", 1024)
while true do response.write(chunk) end
