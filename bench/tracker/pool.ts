/**
 * The peer pool every tracker in bench:tracker sees: peer i is in torrent i % torrents, a quarter are
 * seeds; the same formulas in TypeScript (UDP generator, whitelist) and in wrk's Lua (HTTP).
 */

/** `5e ed <t:2> 00…` — 20 bytes. */
export function poolInfoHash(t: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x5eed, 0);
  b.writeUInt16BE(t, 2);
  return b;
}

/** `-BN0001-` and the peer number in 12 decimal digits. */
export function poolPeerId(i: number): Buffer {
  return Buffer.from(`-BN0001-${String(i).padStart(12, '0')}`, 'latin1');
}

/** A wrk script announcing peer after peer of the pool (compact, numwant=50). */
export function wrkScript(peers: number, torrents: number, close: boolean): string {
  return `
local peers, torrents = ${peers}, ${torrents}
local headers = ${close ? '{ ["Connection"] = "close" }' : '{}'}
local counter = 0
request = function()
  local i = counter % peers
  counter = counter + 1
  local t = i % torrents
  local ih = string.format("%%5e%%ed%%%02x%%%02x", math.floor(t / 256), t % 256) .. string.rep("%00", 16)
  local left = (i % 4 == 0) and 0 or 1000000
  return wrk.format("GET", "/announce?info_hash=" .. ih .. "&peer_id=-BN0001-" .. string.format("%012d", i) ..
    "&port=" .. (10000 + i % 50000) .. "&uploaded=0&downloaded=0&left=" .. left .. "&compact=1&numwant=50", headers)
end
`;
}
