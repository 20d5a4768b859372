-- Fencing token: max(last + 1, server time in µs). It keeps growing across expiry and across a
-- flush of every key, because the server clock then carries it. The memo of the last token only
-- matters while tokens run ahead of the clock, so it lives a day (refreshed at every issue).
local function next_fence(fence_key)
  local time = redis.call('TIME')
  local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local last = tonumber(redis.call('GET', fence_key) or '0')
  local fence = math.max(last + 1, now_us)
  redis.call('SET', fence_key, string.format('%.0f', fence), 'EX', 86400)
  return fence
end
