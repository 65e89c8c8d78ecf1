-- delete.lua: remove an experiment, flag or segment and its listing together.
-- KEYS[1]  definition hash
-- KEYS[2]  registry set of its kind
-- KEYS[3]  experiments only: namespace index hash (field: the experiment key)
-- ARGV[1]  its key: the registry member and the namespace index field
-- Returns  1 if the definition or its listing existed, else 0.
-- Atomic: no moment shows a listed experiment without a definition or a
-- definition without its listing; the experiment's data keys are removed by
-- the caller afterwards (they are unreachable once the definition is gone).
if KEYS[3] then redis.call('HEXISTS', KEYS[3], ARGV[1]) end  -- type check first
local listed = redis.call('SREM', KEYS[2], ARGV[1])
local existed = redis.call('DEL', KEYS[1])
if KEYS[3] then redis.call('HDEL', KEYS[3], ARGV[1]) end
if listed + existed > 0 then return 1 end
return 0
