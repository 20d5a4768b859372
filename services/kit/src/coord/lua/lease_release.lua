-- KEYS[1] lease hash; ARGV[1] holder. Deletes only when this holder holds it.
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
