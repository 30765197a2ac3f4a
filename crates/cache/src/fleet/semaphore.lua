-- A fair semaphore shared by every process that uses the same Redis and keys: one atomic
-- step of it. Redis runs a script alone, so each step sees and leaves a consistent state.
--
-- KEYS[1]  holders  sorted set: permit id -> its lease's end (ms, Redis' clock)
-- KEYS[2]  queue    sorted set: waiter id -> its ticket (the order of arrival)
-- KEYS[3]  alive    sorted set: waiter id -> when it is presumed dead unless it checks in
-- KEYS[4]  tickets  counter: the last ticket handed out
-- ARGV[1]  the step: acquire, try, release, renew or count
-- ARGV[2]  the caller's id (unique in the fleet)
-- ARGV[3]  permits; ARGV[4] lease (ms); ARGV[5] a waiter's time to live (ms)
-- ARGV[6]  the channel on which a waiter handed a permit is told (its id is the message)
--
-- Replies: acquire -> 0 when the caller holds a permit, else its place in line (1 = next);
-- try, release, renew -> 1 or 0; count -> {held, waiting}.
local holders, queue, alive, tickets = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local step, id = ARGV[1], ARGV[2]
local permits, lease, waiter_ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local channel = ARGV[6]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- The dead: holders whose lease ran out, waiters that stopped checking in.
redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', alive, '-inf', now)) do
  redis.call('ZREM', queue, gone)
end
redis.call('ZREMRANGEBYSCORE', alive, '-inf', now)

local reply = 0
if step == 'release' then
  reply = redis.call('ZREM', holders, id)
  redis.call('ZREM', queue, id)
  redis.call('ZREM', alive, id)
elseif step == 'renew' then
  if redis.call('ZSCORE', holders, id) then
    redis.call('ZADD', holders, now + lease, id)
    reply = 1
  end
elseif step == 'try' then
  -- No barging: a free permit goes to the line first.
  if redis.call('ZSCORE', holders, id) then
    reply = 1
  elseif redis.call('ZCARD', queue) == 0 and redis.call('ZCARD', holders) < permits then
    redis.call('ZADD', holders, now + lease, id)
    reply = 1
  end
elseif step == 'acquire' then
  if not redis.call('ZSCORE', holders, id) then
    if not redis.call('ZSCORE', queue, id) then
      redis.call('ZADD', queue, redis.call('INCR', tickets), id)
    end
    redis.call('ZADD', alive, now + waiter_ttl, id)
  end
end

-- Free permits are handed to the head of the line, in ticket order, and each new holder is
-- told on the channel (the caller learns it from the reply).
local free = permits - redis.call('ZCARD', holders)
if free > 0 then
  for _, head in ipairs(redis.call('ZRANGE', queue, 0, free - 1)) do
    redis.call('ZREM', queue, head)
    redis.call('ZREM', alive, head)
    redis.call('ZADD', holders, now + lease, head)
    if head ~= id then
      redis.call('PUBLISH', channel, head)
    end
  end
end

if step == 'acquire' then
  if redis.call('ZSCORE', holders, id) then
    reply = 0
  else
    reply = redis.call('ZRANK', queue, id) + 1
  end
elseif step == 'count' then
  reply = {redis.call('ZCARD', holders), redis.call('ZCARD', queue)}
end

-- Keys nobody has touched for a while go: a live holder or waiter refreshes them far sooner.
local keep = 2 * math.max(lease, waiter_ttl)
for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, keep)
end
return reply
