-- KEYS[1] balance; ARGV[1] ttl ms ('0': none), then score, member pairs.
-- Seeds only an absent balance; returns 1 if seeded.
if redis.call('EXISTS', KEYS[1]) == 1 or #ARGV < 3 then
  return 0
end
for i = 2, #ARGV - 1, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[1] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
