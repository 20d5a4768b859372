-- KEYS[1] window log; ARGV[1] window ms, ARGV[2] nonce, ARGV[3..] hit times in Unix ms.
-- Seeds only an absent log, with the hits still inside the window; returns 1 if seeded.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local window_us = tonumber(ARGV[1]) * 1000
local seeded = 0
for i = 3, #ARGV do
  local at_us = tonumber(ARGV[i]) * 1000
  if at_us + window_us > now_us then
    local at = string.format('%.0f', at_us)
    redis.call('ZADD', KEYS[1], at, at .. ':1:' .. ARGV[2] .. '-' .. i)
    seeded = seeded + 1
  end
end
if seeded == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
