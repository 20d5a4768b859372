-- KEYS[1] lease hash {holder, fence}, KEYS[2] fence memo; ARGV[1] holder, ARGV[2] ttl ms.
-- Renews (same fence) for the current holder, acquires (new fence) when free, nil otherwise.
local current = redis.call('HMGET', KEYS[1], 'holder', 'fence')
if current[1] then
  if current[1] ~= ARGV[1] then
    return false
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(current[2])
end
local fence = next_fence(KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'fence', string.format('%.0f', fence))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return fence
