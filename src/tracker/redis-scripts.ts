/**
 * The Lua scripts of the Redis registry: each announce and each count is one atomic script, so any
 * number of tracker processes can share one Redis without locks.
 *
 * Layout (`P` is the key prefix, `{H}` the hex info-hash as a hash tag, so one swarm's keys share a
 * cluster slot):
 *   P{H}:s   sorted set of seeders:  member = 20-byte peer id, score = last announce (ms, Redis TIME)
 *   P{H}:l   sorted set of leechers: the same
 *   P{H}:d   hash peer id → record `<flags:1><addr:16><port:2><key:4>left,uploaded,downloaded`
 *            (flags: 1 IPv6, 2 left known, 4 key known, 8 seed; IPv4 as ::ffff:a.b.c.d)
 *   P{H}:m   hash `completed` → completed downloads
 *   Pswarms  sorted set of hex info-hashes by last announce (for full scrape, stats and the console)
 *   Pstats   hash `announces` → announces answered, every process together
 * Per-peer expiry is the score: each announce first removes its swarm's peers older than the TTL
 * (interval + grace), and every count skips them; each announce also sets the swarm's keys to expire
 * after the TTL, so a swarm nobody announces to any more disappears by itself.
 */

/** A redis.call that the script must not outlive: at most this many stale peers removed per announce. */
export const EXPIRE_BATCH = 500;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: s, l, d, m, swarms, stats.
 * ARGV: 1 peer id, 2 `<flags><addr16><port2>` (19 bytes), 3 key (4 bytes or ''), 4 `left,up,down`,
 *       5 event ('' | started | completed | stopped), 6 numwant, 7 rand in [0,1), 8 ttl ms,
 *       9 family (0 both, 4, 6), 10 with ids ('1' or ''), 11 hex info-hash.
 * Returns { status, complete, incomplete, peers4, peers6, ids, completedNow } or { 'key-mismatch' }.
 */
export const ANNOUNCE_LUA = `${NOW}
local s, l, d, m = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, head, key, tail = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local event, numwant, rand, ttl = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local family, withIds = tonumber(ARGV[9]), ARGV[10] == '1'
local deadline = now - ttl

for _, z in ipairs({s, l}) do
  local stale = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. deadline, 'LIMIT', 0, ${EXPIRE_BATCH})
  if #stale > 0 then
    redis.call('ZREM', z, unpack(stale))
    redis.call('HDEL', d, unpack(stale))
  end
end

local old = redis.call('HGET', d, id)
local oldFlags = old and string.byte(old, 1) or 0
local wasSeed = old and bit.band(oldFlags, 8) ~= 0
local flags = string.byte(head, 1)
local seed = bit.band(flags, 8) ~= 0

-- A peer id that moved to another address must prove it is the same client with its key.
if old and string.sub(old, 2, 17) ~= string.sub(head, 2, 17) and bit.band(oldFlags, 4) ~= 0 then
  if string.sub(old, 20, 23) ~= key then return {'key-mismatch'} end
end
if key == '' and bit.band(oldFlags, 4) ~= 0 then
  key = string.sub(old, 20, 23)
  flags = bit.bor(flags, 4)
end
if key == '' then key = '\\0\\0\\0\\0' end

local completedNow = false
if event == 'completed' then completedNow = not wasSeed
elseif seed and old and not wasSeed and bit.band(oldFlags, 2) ~= 0 then completedNow = true end

local status = 'stopped'
local p4, p6, ids4, ids6 = {}, {}, {}, {}
if event == 'stopped' then
  redis.call('ZREM', s, id)
  redis.call('ZREM', l, id)
  redis.call('HDEL', d, id)
else
  status = old and 'announced' or 'joined'
  -- A random window of each set (a seed gets only leechers), taken alternately.
  local function window(z)
    local size = redis.call('ZCARD', z)
    if size == 0 or numwant <= 0 then return {} end
    local start = math.floor(rand * size)
    local got = redis.call('ZRANGE', z, start, start + numwant)
    if #got <= numwant and start > 0 then
      for _, x in ipairs(redis.call('ZRANGE', z, 0, math.min(start - 1, numwant - #got))) do got[#got + 1] = x end
    end
    return got
  end
  local ws = seed and {} or window(s)
  local wl = window(l)
  local cands = {}
  for i = 1, math.max(#ws, #wl) do
    if ws[i] then cands[#cands + 1] = ws[i] end
    if wl[i] then cands[#cands + 1] = wl[i] end
  end
  local picked = 0
  if #cands > 0 then
    local recs = redis.call('HMGET', d, unpack(cands))
    for i = 1, #cands do
      if picked >= numwant then break end
      local c, r = cands[i], recs[i]
      if c ~= id and r then
        local v6 = bit.band(string.byte(r, 1), 1) ~= 0
        if family == 0 or (family == 6) == v6 then
          if v6 then
            p6[#p6 + 1] = string.sub(r, 2, 19)
            if withIds then ids6[#ids6 + 1] = c end
          else
            p4[#p4 + 1] = string.sub(r, 14, 19)
            if withIds then ids4[#ids4 + 1] = c end
          end
          picked = picked + 1
        end
      end
    end
  end
  if seed then
    redis.call('ZREM', l, id)
    redis.call('ZADD', s, now, id)
  else
    redis.call('ZREM', s, id)
    redis.call('ZADD', l, now, id)
  end
  redis.call('HSET', d, id, string.char(flags) .. string.sub(head, 2, 19) .. key .. tail)
end
if completedNow then redis.call('HINCRBY', m, 'completed', 1) end
for _, k in ipairs({s, l, d, m}) do redis.call('PEXPIRE', k, ttl) end
redis.call('ZADD', KEYS[5], now, ARGV[11])
redis.call('HINCRBY', KEYS[6], 'announces', 1)
local complete = redis.call('ZCARD', s)
local incomplete = redis.call('ZCARD', l)
return {status, complete, incomplete, table.concat(p4), table.concat(p6),
  table.concat(ids4) .. table.concat(ids6), completedNow and 1 or 0}
`;

/**
 * KEYS: s, l, m for each torrent (3 per torrent). ARGV: 1 ttl ms.
 * Returns { seeders, leechers, completed } × torrents, counting only peers seen within the TTL.
 */
export const COUNT_LUA = `${NOW}
local deadline = '(' .. (now - tonumber(ARGV[1]))
local out = {}
for i = 1, #KEYS, 3 do
  out[#out + 1] = redis.call('ZCOUNT', KEYS[i], deadline, '+inf')
  out[#out + 1] = redis.call('ZCOUNT', KEYS[i + 1], deadline, '+inf')
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[i + 2], 'completed') or '0')
end
return out
`;

/** KEYS: swarms. ARGV: 1 ttl ms. Drops swarms silent for longer than the TTL; returns the others. */
export const LIVE_SWARMS_LUA = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/** KEYS: s, l, d. ARGV: 1 ttl ms. Returns { id, score, record } × live peers of one swarm. */
export const PEERS_LUA = `${NOW}
local deadline = '(' .. (now - tonumber(ARGV[1]))
local out = {}
for z = 1, 2 do
  local got = redis.call('ZRANGEBYSCORE', KEYS[z], deadline, '+inf', 'WITHSCORES')
  for i = 1, #got, 2 do
    local r = redis.call('HGET', KEYS[3], got[i])
    if r then
      out[#out + 1] = got[i]
      out[#out + 1] = got[i + 1]
      out[#out + 1] = r
    end
  end
end
return out
`;
