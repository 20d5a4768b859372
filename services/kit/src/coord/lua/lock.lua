-- KEYS[1] lock, KEYS[2] fence memo; ARGV[1] ttl ms. Returns the fence, or nil when held.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local fence = next_fence(KEYS[2])
redis.call('SET', KEYS[1], string.format('%.0f', fence), 'PX', ARGV[1])
return fence
