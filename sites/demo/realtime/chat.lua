-- A chat room over a WebSocket: what a visitor says goes to everyone in the room,
-- whichever worker process (or machine, with Redis) holds their connection.
local ws = websocket.accept()
if ws == nil then return end  -- not a WebSocket request: 426
local room = channel.subscribe("chat:" .. string.sub(request.query.room or "lobby", 1, 64))
local name = string.sub(request.query.name or "anonymous", 1, 32)
channel.publish(room.name, name .. " joined")
while true do
  local msg, kind = ws:receive(room)
  if msg == nil then break end
  if kind == "channel" then
    ws:send(msg)
  elseif kind == "text" then
    channel.publish(room.name, name .. ": " .. string.sub(msg, 1, 1000))
  end
end
channel.publish(room.name, name .. " left")
