-- track.lua: record a batch of events in one experiment.
-- KEYS[1]      definition hash (field `ver`)
-- KEYS[2]      counters hash (fields `u|k|s|q:<variation>:<event id>`)
-- KEYS[3]      event log list
-- KEYS[4]      event key -> event id hash (field `#` holds the last id given,
--              `#u` how many of them went to undeclared keys)
-- KEYS[2+3i]   assignment bucket of event i's user       (i = 1..n)
-- KEYS[3+3i]   user-metric bucket of event i's user
-- KEYS[4+3i]   dedup bucket of event i's event_id
-- ARGV[1]      definition version the caller decided with
-- ARGV[2]      most distinct event keys the experiment may have (ids are 16 bits)
-- ARGV[3]      most of them that may be keys not among the experiment's metrics
-- ARGV[4]      the experiment's metrics (declared event keys), space-separated
-- ARGV[6i-1]   user field (6 bytes of the user fingerprint)
-- ARGV[6i]     event_id field (6 bytes of its fingerprint), or '' for none
-- ARGV[6i+1]   event key
-- ARGV[6i+2]   record head: flags, time, user fingerprint (13 bytes)
-- ARGV[6i+3]   value as a decimal string, or '' for none
-- ARGV[6i+4]   record tail: packed value and properties, or ''
-- Returns      one character per event: 0 user not enrolled, 1 recorded,
--              2 duplicate event_id, 3 dropped (no room for another event key)
--              (abflask/core/outcomes.py, TrackResult); or the integer -1
--              when the definition is stale (nothing written).
-- Record       variation byte, head, event id (2 bytes, little-endian), tail:
--              layout in abflask/core/records.py.
-- Atomic: records, counters and per-user totals of the whole batch change
-- together; a batch is either fully applied or not at all. Undeclared keys get
-- ids only up to ARGV[3], so no amount of them can crowd out a metric.
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return -1 end
local limit = tonumber(ARGV[2])
local undeclared_limit = tonumber(ARGV[3])
local declared = nil
local ids = {}
local codes = {}
local records = {}
local n = (#ARGV - 4) / 6

local function is_declared(name)
  if not declared then  -- parsed only when a new key needs an id
    declared = {}
    for metric in string.gmatch(ARGV[4], '%S+') do declared[metric] = true end
  end
  return declared[name]
end

local function event_id(name)
  local id = ids[name] or tonumber(redis.call('HGET', KEYS[4], name))
  if not id then
    local last = tonumber(redis.call('HGET', KEYS[4], '#') or '0')
    if last >= limit then return nil end
    if not is_declared(name) then
      local undeclared = tonumber(redis.call('HGET', KEYS[4], '#u') or '0')
      if undeclared >= undeclared_limit then return nil end
      redis.call('HSET', KEYS[4], '#u', undeclared + 1)
    end
    id = last + 1
    redis.call('HSET', KEYS[4], '#', id, name, id)
  end
  ids[name] = id
  return id
end

for i = 1, n do
  local a = 6 * i - 1
  local k = 3 * i + 2
  local code = '0'
  local variation = redis.call('HGET', KEYS[k], ARGV[a])
  if variation then
    local id = event_id(ARGV[a + 2])
    if not id then
      code = '3'
    elseif ARGV[a + 1] ~= '' and redis.call('HSETNX', KEYS[k + 2], ARGV[a + 1], 1) == 0 then
      code = '2'
    else
      code = '1'
      local packed = string.char(id % 256, math.floor(id / 256))
      local ufield = ARGV[a] .. packed
      local before = redis.call('HGET', KEYS[k + 1], ufield)
      local cell = variation .. ':' .. id
      if not before then
        redis.call('HINCRBY', KEYS[2], 'u:' .. cell, 1)
      end
      redis.call('HINCRBY', KEYS[2], 'k:' .. cell, 1)
      local value = ARGV[a + 4]
      if value ~= '' then
        local old = tonumber(before) or 0
        local new = old + tonumber(value)
        redis.call('HSET', KEYS[k + 1], ufield, new)
        redis.call('HINCRBYFLOAT', KEYS[2], 's:' .. cell, value)
        redis.call('HINCRBYFLOAT', KEYS[2], 'q:' .. cell, new * new - old * old)
      elseif not before then
        redis.call('HSET', KEYS[k + 1], ufield, 0)
      end
      records[#records + 1] =
        string.char(tonumber(variation)) .. ARGV[a + 3] .. packed .. ARGV[a + 5]
      if #records == 1000 then
        redis.call('RPUSH', KEYS[3], unpack(records))
        records = {}
      end
    end
  end
  codes[i] = code
end
if #records > 0 then redis.call('RPUSH', KEYS[3], unpack(records)) end
return table.concat(codes)
