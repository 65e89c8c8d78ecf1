-- track.lua: record a batch of events in one experiment.
-- KEYS[1]      definition hash (field `ver`)
-- KEYS[2]      counters hash (layout in abflask/storage/counters.py)
-- KEYS[3]      event log list
-- KEYS[4]      event key -> event id hash (field `#` holds the last id given,
--              `#u` how many of them went to undeclared keys)
-- KEYS[5]      snapshot list of the counters (include/series.lua)
-- KEYS[3+3i]   assignment bucket of event i's user       (i = 1..n)
-- KEYS[4+3i]   user-metric bucket of event i's user
-- KEYS[5+3i]   dedup bucket of event i's event_id
-- ARGV[1]      definition version the caller decided with
-- ARGV[2]      most distinct event keys the experiment may have (ids are 16 bits)
-- ARGV[3]      most of them that may be keys not among the experiment's metrics
-- ARGV[4]      the experiment's metrics (declared event keys), space-separated
-- ARGV[5]      their counting rules, in the same order: `<cap>,<window>` with
--              `-` for none (a fixed cap of per-user totals; seconds after
--              exposure an event counts)
-- ARGV[6]      start times of the phases (epoch seconds), space-separated
-- ARGV[7]      the experiment's base second (exposure seconds are stored
--              relative to it)
-- ARGV[8]      the minute now (epoch seconds // 60), for snapshots
-- ARGV[9]      the current phase; ARGV[10] variations; ARGV[11] the lead
--              metric's event key ('' for none): the snapshots' content
-- ARGV[6i+6]   user field (6 bytes of the user fingerprint)
-- ARGV[6i+7]   event_id field (6 bytes of its fingerprint), or '' for none
-- ARGV[6i+8]   event key
-- ARGV[6i+9]   record head: flags, time, user fingerprint (13 bytes)
-- ARGV[6i+10]  value as a decimal string, or '' for none
-- ARGV[6i+11]  record tail: packed value and properties, or ''
-- Returns      one character per event: 0 user not enrolled, 1 recorded,
--              2 duplicate event_id, 3 dropped (no room for another event key)
--              (abflask/core/outcomes.py, TrackResult); or the integer -1
--              when the definition is stale (nothing written).
-- Record       variation byte, head, event id (2 bytes, little-endian), tail:
--              layout in abflask/core/records.py.
-- Counting     an event is attributed to its user's exposure when its time is
--              at or after the exposure second and, with a window, less than
--              window seconds after it (as the analysis job attributes it);
--              only attributed events change the user's total and the cells
--              of the user's phase (the phase of the exposure second) and
--              variation; the others count in `xu`. An event id counts by the
--              rule stored in `g:<id>` when it was first seen, so a changed
--              rule never mixes into its cells (the live results notice it).
-- Atomic: records, counters and per-user totals of the whole batch change
-- together; a batch is either fully applied or not at all. Undeclared keys get
-- ids only up to ARGV[3], so no amount of them can crowd out a metric.

--#include series

if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return -1 end
local limit = tonumber(ARGV[2])
local undeclared_limit = tonumber(ARGV[3])
local base = tonumber(ARGV[7])
local HEADER = 11
local declared = nil
local starts = nil
local ids = {}
local rules = {}
local codes = {}
local records = {}
local n = (#ARGV - HEADER) / 6

local function rule_of_declared(name)
  if not declared then  -- parsed only when a new key needs an id or a rule
    declared = {}
    local specs = {}
    for spec in string.gmatch(ARGV[5], '%S+') do specs[#specs + 1] = spec end
    local i = 0
    for metric in string.gmatch(ARGV[4], '%S+') do
      i = i + 1
      declared[metric] = specs[i] or '-,-'
    end
  end
  return declared[name]
end

local function event_id(name)
  local id = ids[name] or tonumber(redis.call('HGET', KEYS[4], name))
  if not id then
    local last = tonumber(redis.call('HGET', KEYS[4], '#') or '0')
    if last >= limit then return nil end
    if not rule_of_declared(name) then
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

-- The counting rule of an event id: {cap or false, window or false}.
local function rule(id, name)
  local found = rules[id]
  if found then return found end
  local text = redis.call('HGET', KEYS[2], 'g:' .. id)
  if not text then
    text = rule_of_declared(name) or '-,-'
    redis.call('HSET', KEYS[2], 'g:' .. id, text)
  end
  local cap, window = string.match(text, '^([^,]*),(.*)$')
  found = {tonumber(cap) or false, tonumber(window) or false}
  rules[id] = found
  return found
end

-- Experiment.phase_at of a whole exposure second: its phase index, or `x`
-- for the second a later phase started in at a fractional time.
local function phase_of(t)
  if not starts then
    starts = {}
    for s in string.gmatch(ARGV[6], '%S+') do starts[#starts + 1] = tonumber(s) end
  end
  local index = 0
  for i = 1, #starts do
    local first = math.floor(starts[i])
    if i > 1 and first == t and first ~= starts[i] then return 'x' end
    if starts[i] <= t then index = i - 1 end
  end
  return index
end

local function exact(x) return string.format('%.17g', x) end

local function count(cell, ufield, ubucket, value, cap)
  local before = redis.call('HGET', ubucket, ufield)
  if not before then redis.call('HINCRBY', KEYS[2], 'u:' .. cell, 1) end
  redis.call('HINCRBY', KEYS[2], 'k:' .. cell, 1)
  if value == '' then
    if not before then redis.call('HSET', ubucket, ufield, 0) end
    return
  end
  local old = tonumber(before) or 0
  local new = old + tonumber(value)
  redis.call('HSET', ubucket, ufield, exact(new))
  local was, is = old, new
  if cap then was, is = math.min(old, cap), math.min(new, cap) end
  if cap then
    if is ~= was then redis.call('HINCRBYFLOAT', KEYS[2], 's:' .. cell, exact(is - was)) end
  else
    redis.call('HINCRBYFLOAT', KEYS[2], 's:' .. cell, value)
  end
  if is ~= was then
    redis.call('HINCRBYFLOAT', KEYS[2], 'q:' .. cell, exact(is * is - was * was))
  end
  if (old < 0) ~= (new < 0) then
    redis.call('HINCRBY', KEYS[2], 'm:' .. cell, new < 0 and 1 or -1)
  end
end

if n > 0 then
  snapshot(KEYS[2], KEYS[5], KEYS[4], tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10]), ARGV[11])
end
for i = 1, n do
  local a = 6 * i + HEADER - 5
  local k = 3 * i + 3
  local code = '0'
  local stored = redis.call('HGET', KEYS[k], ARGV[a])
  if stored then
    local packed_user = tonumber(stored)
    local variation = packed_user % 32
    local exposed = base + (packed_user - variation) / 32
    local id = event_id(ARGV[a + 2])
    if not id then
      code = '3'
    elseif ARGV[a + 1] ~= '' and redis.call('HSETNX', KEYS[k + 2], ARGV[a + 1], 1) == 0 then
      code = '2'
    else
      code = '1'
      local head = ARGV[a + 3]
      local b2, b3, b4, b5 = string.byte(head, 2, 5)
      local t = b2 + 256 * (b3 + 256 * (b4 + 256 * b5))
      local counting = rule(id, ARGV[a + 2])
      local window = counting[2]
      local packed = string.char(id % 256, math.floor(id / 256))
      if t >= exposed and (not window or t < exposed + window) then
        local cell = phase_of(exposed) .. ':' .. variation .. ':' .. id
        count(cell, ARGV[a] .. packed, KEYS[k + 1], ARGV[a + 4], counting[1])
      else
        redis.call('HINCRBY', KEYS[2], 'xu', 1)
      end
      records[#records + 1] = string.char(variation) .. head .. packed .. ARGV[a + 5]
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
