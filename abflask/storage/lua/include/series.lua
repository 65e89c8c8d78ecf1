-- series.lua: the per-minute snapshots of the live counters, shared by
-- enroll.lua and track.lua (the loader puts this text where a script says
-- `#include series`).
-- A snapshot is one list entry, the state at the start of `minute` (taken
-- before the first write of that minute, so it holds every earlier write):
--   "<minute> <phase> <event id> <k>" then, per variation v = 0..k-1 of the
--   phase, participants, then users, sum, sum of squares and negative totals
--   of the lead metric's event id (0 when it has none yet), space-separated.
-- The list holds at most SERIES_MAX entries: when a push goes beyond, every
-- other entry is dropped (the newest kept) and the step between snapshots
-- doubles, so any experiment's whole life fits with resolution getting
-- coarser as it ages. Counters fields: `tm` next minute due, `ts` step.
local SERIES_MAX = 512

local function snapshot(counters, series, events, minute, phase, k, lead)
  local due = redis.call('HGET', counters, 'tm')
  if due and minute < tonumber(due) then return end
  local id = '0'
  if lead ~= '' then id = redis.call('HGET', events, lead) or '0' end
  local fields = {}
  for v = 0, k - 1 do fields[#fields + 1] = 'p:' .. phase .. ':' .. v end
  for v = 0, k - 1 do
    local cell = phase .. ':' .. v .. ':' .. id
    fields[#fields + 1] = 'u:' .. cell
    fields[#fields + 1] = 's:' .. cell
    fields[#fields + 1] = 'q:' .. cell
    fields[#fields + 1] = 'm:' .. cell
  end
  local values = redis.call('HMGET', counters, unpack(fields))
  local parts = {minute, phase, id, k}
  for i = 1, #fields do parts[#parts + 1] = values[i] or '0' end
  local step = tonumber(redis.call('HGET', counters, 'ts') or '1')
  if redis.call('RPUSH', series, table.concat(parts, ' ')) > SERIES_MAX then
    local all = redis.call('LRANGE', series, 0, -1)
    local kept = {}
    for i = #all, 1, -2 do table.insert(kept, 1, all[i]) end
    redis.call('DEL', series)
    redis.call('RPUSH', series, unpack(kept))
    step = step * 2
    redis.call('HSET', counters, 'ts', step)
  end
  redis.call('HSET', counters, 'tm', minute + step)
end
