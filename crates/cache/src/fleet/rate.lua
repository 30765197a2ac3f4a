-- A sliding-window log shared by every process that uses the same Redis and key: one
-- atomic decision.
--
-- KEYS[1]  log   sorted set: event id -> when it was allowed (ms, Redis' clock; whole
--                milliseconds, which a Lua number passes to Redis without rounding)
-- ARGV[1]  the most events allowed in any window; ARGV[2] the window (ms)
-- ARGV[3]  this event's id (unique in the fleet)
--
-- Reply: {1, events left in the window} when allowed, {0, ms until one is} when not.
local log = KEYS[1]
local limit, window, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- Events at or before now - window have left the window (now - window, now].
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
local count = redis.call('ZCARD', log)
if count < limit then
  redis.call('ZADD', log, now, id)
  redis.call('PEXPIRE', log, window)
  return {1, limit - count - 1}
end
local oldest = tonumber(redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')[2])
return {0, math.max(oldest + window - now, 1)}
