-- KEYS[1] lock; ARGV[1] fence. Deletes only while still held with this fence.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
