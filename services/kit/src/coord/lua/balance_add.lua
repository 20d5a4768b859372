-- KEYS[1] balance; ARGV[1] member, ARGV[2] delta, ARGV[3] ttl ms ('0': none).
local score = redis.call('ZINCRBY', KEYS[1], ARGV[2], ARGV[1])
if ARGV[3] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return tonumber(score)
