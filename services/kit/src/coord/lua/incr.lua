-- KEYS[1] value; ARGV[1] delta, ARGV[2] ttl ms ('0': none). The TTL is set only when the key
-- has no expiry yet (fixed-window counter). Returns the new value, or nil when the value is
-- not an integer (or would overflow).
local value = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(value) == 'table' and value.err then
  return false
end
if ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
