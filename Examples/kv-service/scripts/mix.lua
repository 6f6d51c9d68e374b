-- wrk script: a mix of GET and PUT on KEYS keys; WRITE_PERCENT of the requests are PUTs.
-- Run as: wrk ... -s mix.lua URL -- KEYS WRITE_PERCENT
local keys, writes
local value = string.rep("v", 100)

function init(args)
  keys = tonumber(args[1] or "10000")
  writes = tonumber(args[2] or "10")
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local key = "/kv/key" .. math.random(0, keys - 1)
  if math.random(1, 100) <= writes then
    return wrk.format("PUT", key, nil, value)
  end
  return wrk.format("GET", key)
end
