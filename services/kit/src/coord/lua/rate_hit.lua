-- GCRA rate limit. KEYS[1] the theoretical arrival time (server µs);
-- ARGV[1] limit, ARGV[2] window ms. Returns {allowed 0/1, slots in use, retry_after µs}.
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local interval = window_us / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
if tat < now_us then
  tat = now_us
end
local next_tat = tat + interval
local allowed_at = next_tat - window_us
if allowed_at > now_us then
  return {0, limit, math.max(1, math.ceil(allowed_at - now_us))}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.max(1, math.ceil((next_tat - now_us) / 1000)))
return {1, math.min(limit, math.ceil((next_tat - now_us) / interval)), 0}
