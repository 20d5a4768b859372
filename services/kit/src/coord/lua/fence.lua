-- Fencing token: max(last + 1, server time in µs). It keeps growing across expiry and across a
-- flush of every key, because the server clock then carries it. The memo of the last token only
-- matters while tokens run ahead of the clock (several issued within one µs, or a clock stepped
-- back), so it lives ten minutes (refreshed at every issue): per-event lock names leave no lasting keys.
local function next_fence(fence_key)
  local time = redis.call('TIME')
  local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local last = tonumber(redis.call('GET', fence_key) or '0')
  local fence = math.max(last + 1, now_us)
  redis.call('SET', fence_key, string.format('%.0f', fence), 'EX', 600)
  return fence
end
