/**
 * A BEP 15 load generator for bench:tracker: a few UDP sockets, each with one connection id, keep a
 * window of announces in flight over a pool of peers (peer i in torrent i % torrents, a quarter
 * seeds) and count the announce replies. Lost datagrams are made up for by refilling the window
 * when a socket hears nothing for 100 ms. Prints one JSON line: { announces, errors, seconds }.
 *
 *   ts-node --transpile-only bench/tracker/udp-load.ts HOST PORT SECONDS PEERS TORRENTS [stopped]
 */
import * as dgram from 'node:dgram';
import { poolInfoHash, poolPeerId } from './pool';

const [host, portS, secondsS, peersS, torrentsS, mode] = process.argv.slice(2);
// `stopped`: announces that leave no peer behind (a warm-up that exercises every path but storage);
// `fill`: every peer of the pool announces once (lost datagrams resent), then the generator exits.
const EVENT = mode === 'stopped' ? 3 : 2;
const FILL = mode === 'fill';
const port = Number(portS);
const seconds = Number(secondsS);
const peers = Number(peersS);
const torrents = Number(torrentsS);
const SOCKETS = 4;
const WINDOW = 64;

function datagram(i: number): Buffer {
  const b = Buffer.alloc(98);
  b.writeUInt32BE(1, 8);
  b.writeUInt32BE(i, 12);
  poolInfoHash(i % torrents).copy(b, 16);
  poolPeerId(i).copy(b, 36);
  b.writeBigInt64BE(i % 4 === 0 ? 0n : 1_000_000n, 64);
  b.writeUInt32BE(EVENT, 80);
  b.writeUInt32BE(i, 88);
  b.writeInt32BE(50, 92);
  b.writeUInt16BE(10_000 + (i % 50_000), 96);
  return b;
}

interface Sock {
  s: dgram.Socket;
  cid: Buffer;
  heard: number;
}

/** Every peer of the pool once (transaction id = peer number); lost ones are sent again. */
function fill(state: Sock[], pool: Buffer[]): Promise<number> {
  const left = new Set<number>(pool.keys());
  let cursor = 0;
  const sendOne = (k: number, i: number): void => {
    state[k].cid.copy(pool[i], 0);
    state[k].s.send(pool[i], port, host);
  };
  return new Promise((resolve) => {
    const finish = (): void => {
      clearInterval(stall);
      clearTimeout(limit);
      resolve(peers - left.size);
    };
    state.forEach((st, k) => {
      st.s.on('message', (m) => {
        st.heard = Date.now();
        left.delete(m.readUInt32BE(4));
        if (left.size === 0) return finish();
        if (cursor < peers) sendOne(k, cursor++);
      });
      for (let w = 0; w < WINDOW && cursor < peers; w++) sendOne(k, cursor++);
    });
    // Nothing heard for 200 ms: what is in flight was lost; send it again and open the window anew.
    const stall = setInterval(() => {
      const now = Date.now();
      if (state.some((st) => now - st.heard < 200)) return;
      let k = 0;
      for (const i of left) {
        if (i >= cursor || k >= WINDOW * SOCKETS) break;
        sendOne(k++ % SOCKETS, i);
      }
      for (let w = 0; w < WINDOW && cursor < peers; w++) sendOne(w % SOCKETS, cursor++);
      state.forEach((st) => (st.heard = now));
    }, 50);
    const limit = setTimeout(finish, 60_000);
  });
}

async function main(): Promise<void> {
  const pool = Array.from({ length: peers }, (_, i) => datagram(i));
  let announces = 0;
  let errors = 0;
  let next = 0;
  let counting = false;
  const sockets = await Promise.all(
    Array.from({ length: SOCKETS }, async () => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      s.setRecvBufferSize(4 * 1024 * 1024);
      return s;
    }),
  );
  const state: Sock[] = sockets.map((s) => ({ s, cid: Buffer.alloc(0), heard: Date.now() }));
  const send = (k: number): void => {
    const st = state[k];
    const d = pool[next];
    next = (next + 1) % peers;
    st.cid.copy(d, 0);
    st.s.send(d, port, host);
  };
  // Connection ids first (bounded: 50 tries per socket).
  await Promise.all(
    state.map(
      (st) =>
        new Promise<void>((resolve, reject) => {
          let tries = 0;
          const c = Buffer.alloc(16);
          c.writeBigUInt64BE(0x41727101980n, 0);
          c.writeUInt32BE(7, 12);
          const retry = setInterval(() => {
            if (++tries > 50) return reject(new Error('no connect reply'));
            st.s.send(c, port, host);
          }, 100);
          st.s.once('message', (m) => {
            clearInterval(retry);
            st.cid = Buffer.from(m.subarray(8, 16));
            resolve();
          });
          st.s.send(c, port, host);
        }),
    ),
  );
  if (FILL) {
    const t0 = process.hrtime.bigint();
    const announced = await fill(state, pool);
    sockets.forEach((s) => s.close());
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(JSON.stringify({ announces: announced, errors: 0, seconds }) + '\n');
    return;
  }
  state.forEach((st, k) => {
    st.s.on('message', (m) => {
      st.heard = Date.now();
      if (counting) {
        if (m.readUInt32BE(0) === 1) announces++;
        else errors++;
      }
      send(k);
    });
    for (let w = 0; w < WINDOW; w++) send(k);
  });
  const refill = setInterval(() => {
    const now = Date.now();
    state.forEach((st, k) => {
      if (now - st.heard > 100) {
        st.heard = now;
        for (let w = 0; w < WINDOW; w++) send(k);
      }
    });
  }, 50);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  counting = true;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(refill);
  sockets.forEach((s) => s.close());
  process.stdout.write(JSON.stringify({ announces, errors, seconds: elapsed }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`udp-load: ${String(err)}\n`);
  process.exitCode = 1;
});
