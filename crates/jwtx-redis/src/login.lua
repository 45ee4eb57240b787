-- jwtx-redis login limiter: one operation of LoginThrottle's semantics, atomically.
--
-- KEYS[1]  the address's attempt log      (sorted set: member -> event time, µs)
-- KEYS[2]  the (name, address) failure log (sorted set, as KEYS[1])
-- KEYS[3]  the (name, address) success mark (string, expires after success_memory)
-- ARGV[1]  the operation: check | failure | success | seen | probe
-- ARGV[2]  attempts_per_ip        ARGV[3]  attempt_window (µs)
-- ARGV[4]  failures_per_user_ip   ARGV[5]  failure_window (µs)
-- ARGV[6]  success_memory (ms)    ARGV[7]  a member unique to this event
--
-- Time is the Redis server's (TIME), so every instance counts on one clock. An event at t
-- counts while now - t < window. Integers are passed to Redis with %d: Lua would print a
-- 16-digit number in %.14g, losing the microseconds.

local op = ARGV[1]
if op == 'probe' then
  return 1
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function int(x)
  return string.format('%d', x)
end

-- Drops the events that have left the window.
local function prune(key, window)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - window))
end

-- How long (µs) until one more event fits under limit, or -1 if it fits now (log pruned).
local function wait(key, limit, window)
  local n = redis.call('ZCARD', key)
  if n < limit then
    return -1
  end
  -- Events 0 ..= n - limit must leave before the count drops below the limit.
  local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  local w = window - (now - tonumber(oldest[2]))
  if w < 0 then
    w = 0
  end
  return w
end

-- Appends an event (never before the latest one), keeps at most limit events, and lets the
-- log expire when its latest event leaves the window.
local function push(key, limit, window, member)
  local at = now
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] ~= nil and tonumber(last[2]) > at then
    at = tonumber(last[2])
  end
  redis.call('ZADD', key, int(at), member)
  local n = redis.call('ZCARD', key)
  if n > limit then
    redis.call('ZREMRANGEBYRANK', key, 0, n - limit - 1)
  end
  redis.call('PEXPIRE', key, int(math.ceil((at - now + window) / 1000)))
end

local attempts, attempt_window = tonumber(ARGV[2]), tonumber(ARGV[3])
local failures, failure_window = tonumber(ARGV[4]), tonumber(ARGV[5])

if op == 'check' then
  prune(KEYS[2], failure_window)
  local user_wait = wait(KEYS[2], failures, failure_window)
  prune(KEYS[1], attempt_window)
  local ip_wait = wait(KEYS[1], attempts, attempt_window)
  -- 1: the (name, address) limit, 2: the address limit; the longer wait wins.
  if user_wait >= 0 and ip_wait > user_wait then
    return {2, ip_wait}
  elseif user_wait >= 0 then
    return {1, user_wait}
  elseif ip_wait >= 0 then
    return {2, ip_wait}
  end
  push(KEYS[1], attempts, attempt_window, ARGV[7])
  return {0, 0}
elseif op == 'failure' then
  prune(KEYS[2], failure_window)
  push(KEYS[2], failures, failure_window, ARGV[7])
  return 0
elseif op == 'success' then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
  return 0
elseif op == 'seen' then
  return redis.call('EXISTS', KEYS[3])
end
return redis.error_reply('jwtx-redis login limiter: unknown operation')
