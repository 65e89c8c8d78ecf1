-- save.lua: create or replace an experiment, flag or segment, with its listing.
-- KEYS[1]  definition hash (fields `json`, `ver`)
-- KEYS[2]  registry set of its kind (every experiment, flag or segment)
-- KEYS[3]  experiments only: namespace index hash (experiment key ->
--          "<namespace id> <start> <end>" of every experiment in a namespace)
-- ARGV[1]  expected version: 0 to create (the key must not exist), else the
--          version the caller read
-- ARGV[2]  the new definition, JSON
-- ARGV[3]  its key: the registry member and the namespace index field
-- ARGV[4]  experiments only: its namespace "<id> <start> <end>", '' for none
-- Returns  {version} (>= 1) once written; {-1} if creating and it exists;
--          {-2} if the version moved on (someone else wrote); {-3} if it no
--          longer exists; {-4, other key, "<id> <start> <end>"} if the
--          namespace range overlaps another experiment's. Nothing is written
--          unless the version is returned.
-- Atomic: the definition, its registry membership and its namespace claim
-- change together, and the overlap check sees every claim made before it, so
-- a crash cannot leave an unlisted definition and of two overlapping creates
-- exactly one wins. Every read comes before the first write, so a Redis
-- error (e.g. a key of the wrong type) also leaves nothing half-written.
local expected = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if expected == 0 and current ~= 0 then return {-1} end
if expected ~= 0 and current == 0 then return {-3} end
if expected ~= current then return {-2} end
local claim = ARGV[4]
if KEYS[3] then
  if claim ~= '' then
    local id, first, last = string.match(claim, '^(%S+) (%S+) (%S+)$')
    first, last = tonumber(first), tonumber(last)
    local index = redis.call('HGETALL', KEYS[3])
    for i = 1, #index, 2 do
      if index[i] ~= ARGV[3] then
        local o_id, o_first, o_last = string.match(index[i + 1], '^(%S+) (%S+) (%S+)$')
        if o_id == id and first < tonumber(o_last) and tonumber(o_first) < last then
          return {-4, index[i], index[i + 1]}
        end
      end
    end
  else
    redis.call('HEXISTS', KEYS[3], ARGV[3])  -- fails now, not mid-write, if not a hash
  end
end
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'ver', current + 1)
if KEYS[3] then
  if claim ~= '' then
    redis.call('HSET', KEYS[3], ARGV[3], claim)
  else
    redis.call('HDEL', KEYS[3], ARGV[3])
  end
end
return {current + 1}
