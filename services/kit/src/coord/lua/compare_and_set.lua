-- KEYS[1] value; ARGV[1] '1' if a value is expected ('0': expected absent), ARGV[2] expected,
-- ARGV[3] '1' to store ARGV[4] ('0': delete), ARGV[5] ttl ms ('0': no expiry).
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then
    return 0
  end
elseif current then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
