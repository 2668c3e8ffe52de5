-- Server-sent events: a numbered tick (two lines of data each), and what is said in the chat lobby.
-- A client that reconnects sends the last id it saw (Last-Event-ID) and goes on from there.
local sse = response.sse()
local n = tonumber(sse.last_event_id) or 0
local last = n + (tonumber(request.query.count) or 1000000)
local interval = tonumber(request.query.interval) or 1
local lobby = channel.subscribe("chat:lobby")
sse:send{retry = 2000}
while n < last do
  n = n + 1
  sse:send{event = "tick", id = tostring(n), data = "tick " .. n .. "\nof " .. last}
  local said = lobby:receive(interval)
  if said then sse:send{event = "chat", data = said} end
end
