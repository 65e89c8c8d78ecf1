-- save.lua: write an experiment or flag definition if its version is as expected.
-- KEYS[1]  definition hash (fields `json`, `ver`)
-- ARGV[1]  expected version: 0 to create (the key must not exist), else the
--          version the caller read
-- ARGV[2]  the new definition, JSON
-- Returns  the new version (>= 1); -1 if creating and it exists; -2 if the
--          version moved on (someone else wrote); -3 if it no longer exists.
local expected = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if expected == 0 and current ~= 0 then return -1 end
if expected ~= 0 and current == 0 then return -3 end
if expected ~= current then return -2 end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'ver', current + 1)
return current + 1
