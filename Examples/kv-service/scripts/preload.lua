-- wrk script: PUT key0, key1, ... key(KEYS-1) once each, then keep rewriting them in order.
-- Run with one thread (-t1) so the counter is shared by every connection.
local counter = 0
local keys
local value = string.rep("v", 100)

function init(args)
  keys = tonumber(args[1] or "10000")
end

function request()
  local key = "/kv/key" .. (counter % keys)
  counter = counter + 1
  return wrk.format("PUT", key, nil, value)
end
