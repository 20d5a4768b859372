-- KEYS[1] window log (score: hit time in server µs; member "<µs>:<cost>:<nonce>");
-- ARGV[1] limit, ARGV[2] window ms, ARGV[3] cost, ARGV[4] nonce.
-- Returns {allowed 0/1, count, retry_after µs}.
local function cost_of(member)
  return tonumber(string.match(member, '^[^:]*:(%d+):'))
end
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local cost = tonumber(ARGV[3])
-- A hit leaves the window once the whole window has elapsed since it.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now_us - window_us))
local hits = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local count = 0
for i = 1, #hits, 2 do
  count = count + cost_of(hits[i])
end
if count + cost <= limit then
  if cost > 0 then
    local at = string.format('%.0f', now_us)
    redis.call('ZADD', KEYS[1], at, at .. ':' .. ARGV[3] .. ':' .. ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return {1, count + cost, 0}
end
local excess = count + cost - limit
local freed = 0
for i = 1, #hits, 2 do
  freed = freed + cost_of(hits[i])
  if freed >= excess then
    return {0, count, math.max(1, tonumber(hits[i + 1]) + window_us - now_us)}
  end
end
return {0, count, window_us}
