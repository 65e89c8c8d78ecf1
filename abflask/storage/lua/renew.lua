-- renew.lua: extend a lock only if we still hold it.
-- KEYS[1]  the lock key
-- ARGV[1]  the token this holder set
-- ARGV[2]  the new time to live, in milliseconds
-- Returns  1 if extended, 0 if the lock had expired or belongs to another run
--          (then nothing is written: a lost lock is never re-created here).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
