-- enroll.lua: sticky, capped enrollment of one user in one experiment.
-- KEYS[1]  definition hash (field `ver`)
-- KEYS[2]  assignment bucket hash of the user
-- KEYS[3]  counters hash (fields `n`, `p:<phase>:<variation>`; layout in
--          abflask/storage/counters.py)
-- KEYS[4]  event log list
-- KEYS[5]  event key -> event id hash (read for the snapshot's lead metric)
-- KEYS[6]  snapshot list of the counters (include/series.lua)
-- ARGV[1]  definition version the caller decided with
-- ARGV[2]  the user's field in the bucket (6 bytes of the user fingerprint)
-- ARGV[3]  candidate variation index from the hash, -1 when excluded
-- ARGV[4]  enrollment cap, 0 for none
-- ARGV[5]  exposure record without its first byte (flags, time, fingerprint)
-- ARGV[6]  the phase of the exposure second: its index, or `x` for the second
--          a later phase started in
-- ARGV[7]  the exposure second minus the experiment's base second
-- ARGV[8]  the minute now (epoch seconds // 60), for snapshots
-- ARGV[9]  the current phase (the snapshots' phase)
-- ARGV[10] variations of the experiment
-- ARGV[11] the lead metric's event key, '' for none
-- Returns  {status, variation}: status 0 already enrolled (sticky), 1 enrolled
--          now, 2 excluded (candidate -1), 3 cap reached, -1 stale definition
--          (abflask/core/outcomes.py, Enrollment).
-- Stored   the user's field -> 32 * ARGV[7] + variation: the variation and the
--          exposure second in one integer (at most 20 variations).
-- Record   the variation byte, then ARGV[5]: layout in abflask/core/records.py.
-- Atomic: the stored assignment, the counters and the exposure record change
-- together, so concurrent first requests store exactly one assignment and the
-- cap is never exceeded.

--#include series

if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return {-1, -1} end
local stored = redis.call('HGET', KEYS[2], ARGV[2])
if stored then return {0, tonumber(stored) % 32} end
local candidate = tonumber(ARGV[3])
if candidate < 0 then return {2, -1} end
local cap = tonumber(ARGV[4])
if cap > 0 and tonumber(redis.call('HGET', KEYS[3], 'n') or '0') >= cap then
  return {3, -1}
end
snapshot(KEYS[3], KEYS[6], KEYS[5], tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10]), ARGV[11])
redis.call('HSET', KEYS[2], ARGV[2], 32 * tonumber(ARGV[7]) + candidate)
redis.call('HINCRBY', KEYS[3], 'n', 1)
redis.call('HINCRBY', KEYS[3], 'p:' .. ARGV[6] .. ':' .. candidate, 1)
redis.call('RPUSH', KEYS[4], string.char(candidate) .. ARGV[5])
return {1, candidate}
