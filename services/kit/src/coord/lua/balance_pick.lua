-- KEYS[1] balance, KEYS[2] ceiling balance when ARGV[1] == '1', then the balances to also
-- increment. ARGV[1] ceiling flag, ARGV[2] ceiling max, ARGV[3] tie start index (0-based,
-- already reduced modulo the candidate count), ARGV[4] ttl ms ('0': none), ARGV[5] '1' when
-- every balance must exist (seeded only), ARGV[6..] candidates. A seeded-only pick that finds
-- a balance missing changes nothing and returns {0, index of that key, 0}; a pick returns
-- {1, winner, new score}; nobody qualifying returns false.
-- The rule is `pick_winner` in coord/mod.rs, run here so the pick and its increment are one
-- atomic step (tests/coord_pick_agreement.rs proves the two agree): lowest score (missing = 0)
-- among candidates under the ceiling; ties go to the first at or after the start index, cyclic.
local has_ceiling = ARGV[1] == '1'
local ceiling_max = tonumber(ARGV[2])
local start = tonumber(ARGV[3])
local ttl_ms = ARGV[4]
local first_candidate = 6
local count = #ARGV - 5
if ARGV[5] == '1' then
  for k = 1, #KEYS do
    if redis.call('EXISTS', KEYS[k]) == 0 then
      return {0, k, 0}
    end
  end
end
local scores = {}
local lowest = nil
for i = 1, count do
  local member = ARGV[first_candidate - 1 + i]
  local qualifies = true
  if has_ceiling then
    qualifies = tonumber(redis.call('ZSCORE', KEYS[2], member) or '0') < ceiling_max
  end
  if qualifies then
    local score = tonumber(redis.call('ZSCORE', KEYS[1], member) or '0')
    scores[i] = score
    if lowest == nil or score < lowest then
      lowest = score
    end
  end
end
if lowest == nil then
  return false
end
local winner = nil
for step = 0, count - 1 do
  local i = (start + step) % count + 1
  if scores[i] == lowest then
    winner = ARGV[first_candidate - 1 + i]
    break
  end
end
local new_score = redis.call('ZINCRBY', KEYS[1], 1, winner)
local first_also = 2
if has_ceiling then
  first_also = 3
end
for k = first_also, #KEYS do
  redis.call('ZINCRBY', KEYS[k], 1, winner)
end
if ttl_ms ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  for k = first_also, #KEYS do
    redis.call('PEXPIRE', KEYS[k], ttl_ms)
  end
end
return {1, winner, tonumber(new_score)}
