package redis

// The Lua scripts below run atomically on the server. Times are Unix
// microseconds as decimal strings; an expiry of "0" means never. A binding
// is a hash: s session, p provider, a app id, e environment, t token,
// l labels (JSON, absent when none), c created, u updated, x expires,
// k payload keys (JSON {"p256dh","auth"}, absent when none).
//
// Bindings and indexes of other sessions are addressed from the prefix passed
// in ARGV, so the scripts need a standalone Redis (or Sentinel), not Cluster.

// live(x, now) in Lua: x == 0 or now < x.
const luaHelpers = `
local function live(x, now)
  x = tonumber(x)
  return x == 0 or now < x
end
`

// registerScript: KEYS[1] binding, KEYS[2] session index.
// ARGV: prefix, id, session, now, expires, pexpire (lifetime in ms, "0" for
// none), cap, labels, provider, appid, env, token, keys ("" for none).
// Returns the CreatedAt to
// report. Native expiry is set from the lifetime on the server's clock, which
// may differ from the callers'.
const registerScript = luaHelpers + `
local b, idx = KEYS[1], KEYS[2]
local prefix, id, session = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[4])
local created = ARGV[4]
local cur = redis.call('HMGET', b, 's', 'c', 'x')
if cur[1] then
  if live(cur[3], now) then created = cur[2] end
  if cur[1] ~= session then
    local old = prefix .. 's:' .. cur[1]
    redis.call('ZREM', old, id)
  end
end
redis.call('HSET', b, 's', session, 'p', ARGV[9], 'a', ARGV[10], 'e', ARGV[11], 't', ARGV[12],
  'c', created, 'u', ARGV[4], 'x', ARGV[5])
if ARGV[8] == '' then
  redis.call('HDEL', b, 'l')
else
  redis.call('HSET', b, 'l', ARGV[8])
end
if ARGV[13] == '' then
  redis.call('HDEL', b, 'k')
else
  redis.call('HSET', b, 'k', ARGV[13])
end
if ARGV[6] == '0' then
  redis.call('PERSIST', b)
else
  redis.call('PEXPIRE', b, ARGV[6])
end

local existed = redis.call('EXISTS', idx) == 1
redis.call('ZADD', idx, now, id)
-- The index lives as long as its longest-lived binding; once it holds a
-- binding that never expires it never expires either.
if ARGV[6] == '0' then
  redis.call('PERSIST', idx)
else
  local t = redis.call('TIME')
  local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[6])
  local cur_at = redis.call('PEXPIRETIME', idx)
  if not existed or (cur_at >= 0 and cur_at < at) then
    redis.call('PEXPIREAT', idx, at)
  end
end

local cap = tonumber(ARGV[7])
if cap > 0 and redis.call('ZCARD', idx) > cap then
  -- Drop entries whose binding is gone, moved or expired.
  for _, m in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    if m ~= id then
      local mk = prefix .. 'b:' .. m
      local v = redis.call('HMGET', mk, 's', 'x')
      if v[1] ~= session then
        redis.call('ZREM', idx, m)
      elseif not live(v[2], now) then
        redis.call('ZREM', idx, m)
        redis.call('DEL', mk)
      end
    end
  end
  -- Evict the least recently updated others.
  local n = redis.call('ZCARD', idx)
  if n > cap then
    for _, m in ipairs(redis.call('ZRANGE', idx, 0, n - cap)) do
      if n <= cap then break end
      if m ~= id then
        redis.call('ZREM', idx, m)
        redis.call('DEL', prefix .. 'b:' .. m)
        n = n - 1
      end
    end
  end
end
return created
`

// lookupScript: KEYS[1] session index. ARGV: prefix, session, now.
// Returns 10 fields per live binding, newest first; cleans stale entries.
const lookupScript = luaHelpers + `
local idx = KEYS[1]
local prefix, session, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for _, m in ipairs(redis.call('ZREVRANGE', idx, 0, -1)) do
  local mk = prefix .. 'b:' .. m
  local v = redis.call('HMGET', mk, 's', 'p', 'a', 'e', 't', 'l', 'c', 'u', 'x', 'k')
  if v[1] ~= session then
    redis.call('ZREM', idx, m)
  elseif not live(v[9], now) then
    redis.call('ZREM', idx, m)
    redis.call('DEL', mk)
  else
    for i = 1, 10 do
      out[#out + 1] = v[i] or ''
    end
  end
end
return out
`

// unregisterScript: KEYS[1] binding. ARGV: prefix, id, now.
// Returns 1 when a live binding was removed, else 0.
const unregisterScript = luaHelpers + `
local b = KEYS[1]
local v = redis.call('HMGET', b, 's', 'x')
if not v[1] then return 0 end
redis.call('ZREM', ARGV[1] .. 's:' .. v[1], ARGV[2])
redis.call('DEL', b)
if live(v[2], tonumber(ARGV[3])) then return 1 end
return 0
`

// invalidateScript: KEYS[1] binding. ARGV: prefix, id, now, asOf (” = always).
// Returns 1 when a live binding updated at or before asOf was removed.
const invalidateScript = luaHelpers + `
local b = KEYS[1]
local v = redis.call('HMGET', b, 's', 'u', 'x')
if not v[1] then return 0 end
local expired = not live(v[3], tonumber(ARGV[3]))
if not expired and ARGV[4] ~= '' and tonumber(v[2]) > tonumber(ARGV[4]) then
  return 0
end
redis.call('ZREM', ARGV[1] .. 's:' .. v[1], ARGV[2])
redis.call('DEL', b)
if expired then return 0 end
return 1
`

// removeSessionScript: KEYS[1] session index. ARGV: prefix, session, now.
// Returns the number of live bindings removed.
const removeSessionScript = luaHelpers + `
local idx = KEYS[1]
local prefix, session, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = 0
for _, m in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local mk = prefix .. 'b:' .. m
  local v = redis.call('HMGET', mk, 's', 'x')
  if v[1] == session then
    if live(v[2], now) then n = n + 1 end
    redis.call('DEL', mk)
  end
end
redis.call('DEL', idx)
return n
`
