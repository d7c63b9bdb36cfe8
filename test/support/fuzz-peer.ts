/**
 * A fuzzing peer for session-level tests: it completes a real handshake (fast and extension bits set),
 * then sends a sequence of well-framed messages of every type whose fields take edge values — 0, 1,
 * 16383, 16384, 16385, piece count ± 1, piece length ± 1, 2³²−1 — or random ones, BEP 10 messages
 * (extended handshakes, ut_metadata, ut_pex, garbage; `extendedMessage`), and sometimes waits for
 * one of the target's REQUESTs to answer it with a REJECT, PIECE or CANCEL whose fields are the request's
 * or a mutation of them. Sequences come from a seeded generator, so a failing seed replays exactly.
 *
 * Owns: generating sequences (`fuzzSequence`) and playing one over a fresh connection (`playSequence`),
 * plus an honest raw seeder (`serveHonestly`) that proves a leecher still completes afterwards. Does not
 * own: judging the target — the test checks the process is alive and printed no stack trace.
 */
import * as net from 'node:net';
import {
  BLOCK_SIZE,
  encodeHandshake,
  encodeMessage,
  makeReserved,
  MessageId,
  WireMessage,
} from '../../src/protocol/wire-codec';
import { WireFrame } from '../../src/streams/wire-framing';
import { RawPeer, RawTorrent } from './raw-peer';
import { seededRandom } from './seeded-random';

export { seededRandom };

const U32_MAX = 0xffffffff;

export type FuzzStep =
  | { kind: 'send'; message: WireMessage }
  /** A frame the codec would not build (e.g. an extended message with an unknown id, a short piece). */
  | { kind: 'raw'; bytes: Buffer; label: string }
  /** Wait (bounded) for a REQUEST from the target, then answer it with `reply`, fields possibly mutated. */
  | { kind: 'answer'; reply: 'Reject' | 'Piece' | 'Cancel'; mutate: 'none' | 'index' | 'begin' | 'length' };

interface Edges {
  index: number[];
  begin: number[];
  length: number[];
}

function edges(t: RawTorrent): Edges {
  const n = t.pieceCount;
  const pl = t.pieceLength;
  return {
    index: [0, 1, n - 1, n, n + 1, U32_MAX],
    begin: [0, 1, 16383, 16384, 16385, pl - BLOCK_SIZE, pl - 1, pl, pl + 1, U32_MAX],
    length: [0, 1, 16383, 16384, 16385, pl - 1, pl, pl + 1, U32_MAX],
  };
}

/** An edge value most of the time, a random 32-bit value otherwise. */
function pickField(rng: () => number, values: number[]): number {
  if (rng() < 0.8) return values[Math.floor(rng() * values.length)];
  return Math.floor(rng() * (U32_MAX + 1));
}

function span(rng: () => number, e: Edges): { index: number; begin: number; length: number } {
  return { index: pickField(rng, e.index), begin: pickField(rng, e.begin), length: pickField(rng, e.length) };
}

const SIMPLE: WireMessage['type'][] = [
  'KeepAlive',
  'Choke',
  'Unchoke',
  'Interested',
  'NotInterested',
  'HaveAll',
  'HaveNone',
];

/** One random message step. */
export function fuzzStep(rng: () => number, t: RawTorrent): FuzzStep {
  const e = edges(t);
  const r = rng();
  if (r < 0.12)
    return { kind: 'send', message: { type: SIMPLE[Math.floor(rng() * SIMPLE.length)] } as WireMessage };
  if (r < 0.2) {
    const type = (['Have', 'Suggest', 'AllowedFast'] as const)[Math.floor(rng() * 3)];
    return { kind: 'send', message: { type, index: pickField(rng, e.index) } };
  }
  if (r < 0.27) {
    // Right length most of the time (spare bits maybe set), else one byte short or long.
    const len = Math.ceil(t.pieceCount / 8) + (rng() < 0.7 ? 0 : rng() < 0.5 ? -1 : 1);
    const bits = Buffer.alloc(Math.max(0, len));
    for (let i = 0; i < bits.length; i++) bits[i] = rng() < 0.5 ? 0xff : Math.floor(rng() * 256);
    return { kind: 'send', message: { type: 'Bitfield', bits } };
  }
  if (r < 0.42) {
    const type = (['Request', 'Cancel', 'Reject'] as const)[Math.floor(rng() * 3)];
    return { kind: 'send', message: { type, ...span(rng, e) } };
  }
  if (r < 0.5) {
    // A PIECE nobody asked for; its body is capped by what a frame may carry (bigger ones are framing errors).
    const s = span(rng, e);
    const size = [0, 1, 16383, 16384, 16385][Math.floor(rng() * 5)];
    return {
      kind: 'send',
      message: { type: 'Piece', index: s.index, begin: s.begin, block: Buffer.alloc(size, 0xab) },
    };
  }
  if (r < 0.55) return { kind: 'send', message: { type: 'Port', port: Math.floor(rng() * 65536) } };
  if (r < 0.62) return { kind: 'send', message: extendedMessage(rng) };
  if (r < 0.67) return { kind: 'raw', bytes: rawOdd(rng), label: 'odd frame' };
  const reply = (['Reject', 'Piece', 'Cancel'] as const)[Math.floor(rng() * 3)];
  const mutate = (['none', 'none', 'index', 'begin', 'length'] as const)[Math.floor(rng() * 5)];
  return { kind: 'answer', reply, mutate };
}

const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

/**
 * A BEP 10 message at the target's own ids (0 handshake, 1 ut_metadata, 2 ut_pex) or a random one: valid
 * ones with edge values, and garbage. PEX addresses are loopback with port 1 only, so what the target
 * learns and dials never leaves this machine nor reaches anyone's service.
 */
export function extendedMessage(rng: () => number): WireMessage {
  const id = pick(rng, [0, 0, 1, 1, 1, 2, 2, 2, Math.floor(rng() * 256)]);
  let payload: Buffer;
  if (id === 0) {
    payload = Buffer.from(
      pick(rng, [
        'd1:md11:ut_metadatai3e6:ut_pexi4ee1:pi6881e4:reqqi2ee',
        'd1:md11:ut_metadatai1e6:ut_pexi2ee4:reqqi4294967295e13:metadata_sizei-1ee',
        'd1:md11:ut_metadatai300eee',
        'd1:md6:ut_pexi0eee',
        'd1:md11:ut_metadatai3e6:ut_pexi3eee',
        `d1:v${300}:${'v'.repeat(300)}e`,
        'd6:yourip3:abce',
        'de',
        'l',
        'd1:v',
        'i99999999999999999999e',
      ]),
    );
  } else if (id === 1) {
    const piece = pick(rng, [0, 1, 2, 3, 2047, 2048, -1, 4294967295]);
    const total = pick(rng, [1, 16384, 16385, 33554432, 33554433, 0]);
    payload = Buffer.concat([
      Buffer.from(
        pick(rng, [
          `d8:msg_typei0e5:piecei${piece}ee`,
          `d8:msg_typei2e5:piecei${piece}ee`,
          `d8:msg_typei1e5:piecei${piece}e10:total_sizei${total}ee`,
          `d8:msg_typei${pick(rng, [3, 99, -1])}e5:piecei0ee`,
          'd5:piecei0ee',
          'd8:msg_type1:xe',
        ]),
      ),
      Buffer.alloc(pick(rng, [0, 0, 1, 100, 16384, 16385]), 0x61),
    ]);
  } else if (id === 2) {
    const peers = Math.floor(rng() * 6);
    const entry = (i: number): string => `\x7f\x00\x00${String.fromCharCode(1 + (i % 200))}\x00\x01`;
    payload = Buffer.from(
      pick(rng, [
        `d5:added${6 * peers}:${Array.from({ length: peers }, (_, i) => entry(i)).join('')}7:added.f${peers}:${'\x10'.repeat(peers)}e`,
        `d7:dropped${6 * peers}:${Array.from({ length: peers }, (_, i) => entry(i)).join('')}e`,
        `d5:added${6 * 201}:${Array.from({ length: 201 }, (_, i) => entry(i)).join('')}e`,
        'd6:added618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01e',
        'd5:added5:abcdee',
        'd5:addedi1ee',
        'de',
        'le',
      ]),
      'latin1',
    );
  } else payload = Buffer.from(pick(rng, ['de', 'garbage', '']));
  return { type: 'Extended', id, payload };
}

/** Well-framed but odd frames: an unknown id, a piece shorter than its header, a zero-length request. */
function rawOdd(rng: () => number): Buffer {
  const choice = Math.floor(rng() * 4);
  if (choice === 0) return frame(20 + Math.floor(rng() * 200), Buffer.alloc(0)); // unknown id
  if (choice === 1) return frame(MessageId.Piece, Buffer.alloc(5)); // piece body under 8 bytes
  if (choice === 2) return frame(MessageId.Request, Buffer.alloc(11)); // request one byte short
  return frame(MessageId.Have, Buffer.alloc(5)); // have one byte long
}

function frame(id: number, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(1 + body.length, 0);
  out[4] = id;
  body.copy(out, 5);
  return out;
}

/**
 * A sequence: mostly an opening that makes the target engage (HAVE ALL + UNCHOKE for a leecher,
 * INTERESTED for a seeder), then random steps.
 */
export function fuzzSequence(rng: () => number, t: RawTorrent, maxSteps = 16): FuzzStep[] {
  const steps: FuzzStep[] = [];
  if (rng() < 0.7) {
    steps.push({ kind: 'send', message: { type: rng() < 0.8 ? 'HaveAll' : 'HaveNone' } });
    steps.push({ kind: 'send', message: { type: 'Unchoke' } });
    steps.push({ kind: 'send', message: { type: 'Interested' } });
  }
  const n = 1 + Math.floor(rng() * maxSteps);
  for (let i = 0; i < n; i++) steps.push(fuzzStep(rng, t));
  return steps;
}

export interface PlayResult {
  /** Messages (and raw frames) sent. */
  sent: number;
  /** The target closed the connection before the sequence ended. */
  closedEarly: boolean;
}

/**
 * Plays one sequence on a new connection to `port` and closes it. Bounded: the handshake reply is awaited
 * at most `waitMs`, each `answer` step waits at most `waitMs` for a REQUEST (skipped when none comes).
 * `data` (the torrent's content), when given, makes an unmutated PIECE answer carry the right bytes.
 */
export async function playSequence(
  port: number,
  t: RawTorrent,
  steps: FuzzStep[],
  opts: { waitMs?: number; data?: Buffer; rng?: () => number } = {},
): Promise<PlayResult> {
  const waitMs = opts.waitMs ?? 300;
  const rng = opts.rng ?? Math.random;
  let peer: RawPeer;
  try {
    peer = await RawPeer.connect(port, { pieceCount: t.pieceCount });
  } catch {
    return { sent: 0, closedEarly: true };
  }
  let sent = 0;
  try {
    peer.write(
      encodeHandshake({
        infoHash: t.infoHash,
        peerId: Buffer.from(
          `-FZ0001-${Math.floor(rng() * 1e12)
            .toString()
            .padStart(12, '0')}`,
        ),
        reserved: makeReserved({ fast: true, extensions: true }),
      }),
    );
    await peer.nextFrame((f) => f.type === 'Handshake', waitMs * 4);
    for (const step of steps) {
      if (peer.isClosed) return { sent, closedEarly: true };
      if (step.kind === 'send') peer.send(step.message);
      else if (step.kind === 'raw') peer.write(step.bytes);
      else {
        const req = await peer.nextFrame((f) => f.type === 'Request', waitMs).catch(() => undefined);
        if (!req || req.type !== 'Request') continue;
        peer.send(answerTo(req, step, t, opts.data));
      }
      sent++;
    }
    return { sent, closedEarly: peer.isClosed };
  } catch {
    return { sent, closedEarly: true };
  } finally {
    peer.destroy();
  }
}

function answerTo(
  req: Extract<WireFrame, { type: 'Request' }>,
  step: Extract<FuzzStep, { kind: 'answer' }>,
  t: RawTorrent,
  data?: Buffer,
): WireMessage {
  let { index, begin, length } = req;
  if (step.mutate === 'index') index = index + 1 < t.pieceCount ? index + 1 : 0;
  if (step.mutate === 'begin') begin = begin === 0 ? 100 : begin - 1;
  if (step.mutate === 'length') length = length === 100 ? 16384 : 100;
  if (step.reply === 'Reject') return { type: 'Reject', index, begin, length };
  if (step.reply === 'Cancel') return { type: 'Cancel', index, begin, length };
  const off = index * t.pieceLength + begin;
  const block =
    data && step.mutate === 'none' && off + length <= data.length
      ? data.subarray(off, off + length)
      : Buffer.alloc(Math.min(length, BLOCK_SIZE), 0x5a);
  return { type: 'Piece', index, begin, block };
}

/**
 * An honest seeder that dials a leecher: handshake, HAVE ALL, UNCHOKE, and the right bytes for every
 * REQUEST, until the leecher hangs up (both sides seeds) or `timeoutMs` passes. Resolves with the number
 * of blocks served.
 */
export async function serveHonestly(
  port: number,
  t: RawTorrent,
  data: Buffer,
  timeoutMs = 30_000,
): Promise<number> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const peer = new RawPeer(socket, { pieceCount: t.pieceCount });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let served = 0;
  const deadline = Date.now() + timeoutMs;
  try {
    peer.write(
      encodeHandshake({
        infoHash: t.infoHash,
        peerId: Buffer.from('-HN0001-honestseeder'),
        reserved: makeReserved({ fast: true }),
      }),
    );
    await peer.nextFrame((f) => f.type === 'Handshake', 5_000);
    peer.send({ type: 'HaveAll' }, { type: 'Unchoke' });
    while (Date.now() < deadline) {
      const f = await peer
        .nextFrame((m) => m.type === 'Request', deadline - Date.now())
        .catch(() => undefined);
      if (!f || f.type !== 'Request') break;
      const off = f.index * t.pieceLength + f.begin;
      peer.send({ type: 'Piece', index: f.index, begin: f.begin, block: data.subarray(off, off + f.length) });
      served++;
    }
  } finally {
    peer.destroy();
  }
  return served;
}

/** Encoded size of a step (for counting bytes thrown at the target). */
export function stepBytes(step: FuzzStep): number {
  if (step.kind === 'raw') return step.bytes.length;
  if (step.kind === 'send') return encodeMessage(step.message).length;
  return 0;
}
