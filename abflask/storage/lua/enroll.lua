-- enroll.lua: sticky, capped enrollment of one user in one experiment.
-- KEYS[1]  definition hash (field `ver`)
-- KEYS[2]  assignment bucket hash of the user
-- KEYS[3]  counters hash (fields `n`, `p:<variation>`)
-- KEYS[4]  event log list
-- ARGV[1]  definition version the caller decided with
-- ARGV[2]  the user's field in the bucket (6 bytes of the user fingerprint)
-- ARGV[3]  candidate variation index from the hash, -1 when excluded
-- ARGV[4]  enrollment cap, 0 for none
-- ARGV[5]  exposure record without its first byte (flags, time, fingerprint)
-- Returns  {status, variation}: status 0 already enrolled (sticky), 1 enrolled
--          now, 2 excluded (candidate -1), 3 cap reached, -1 stale definition
--          (abflask/core/outcomes.py, Enrollment).
-- Record   the variation byte, then ARGV[5]: layout in abflask/core/records.py.
-- Atomic: the stored assignment, the counters and the exposure record change
-- together, so concurrent first requests store exactly one assignment and the
-- cap is never exceeded.
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return {-1, -1} end
local stored = redis.call('HGET', KEYS[2], ARGV[2])
if stored then return {0, tonumber(stored)} end
local candidate = tonumber(ARGV[3])
if candidate < 0 then return {2, -1} end
local cap = tonumber(ARGV[4])
if cap > 0 and tonumber(redis.call('HGET', KEYS[3], 'n') or '0') >= cap then
  return {3, -1}
end
redis.call('HSET', KEYS[2], ARGV[2], candidate)
redis.call('HINCRBY', KEYS[3], 'n', 1)
redis.call('HINCRBY', KEYS[3], 'p:' .. candidate, 1)
redis.call('RPUSH', KEYS[4], string.char(candidate) .. ARGV[5])
return {1, candidate}
