/**
 * A scripted raw-socket BitTorrent peer for acceptance tests: it says exactly what a test tells it to —
 * garbage, a wrong info-hash, a 4 GiB length prefix, a flood — and records what comes back.
 *
 * Owns: one `net.Socket` (dialled with `RawPeer.connect`, or accepted by `listenRaw`), a queue of the
 * frames received (parsed with our own `WireReader`, without the engine's validation), and bounded waits
 * (`nextFrame`, `waitClosed`) that fail with a message instead of hanging. Does not own: any protocol
 * rules — a test that wants to behave well does so itself (`downloadAll` is the well-behaved script).
 *
 * @example
 *   const peer = await RawPeer.connect(port);
 *   peer.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
 *   await peer.waitClosed(2_000); // the seeder hung up on us
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { buildMetainfo, parseMetainfo } from '../../src/protocol/metainfo';
import {
  BLOCK_SIZE,
  encodeHandshake,
  encodeMessage,
  makeReserved,
  WireMessage,
} from '../../src/protocol/wire-codec';
import { WireFrame, WireReader } from '../../src/streams/wire-framing';

/** The torrent's shape, as far as a raw peer needs it. */
export interface RawTorrent {
  infoHash: Buffer;
  pieceLength: number;
  length: number;
  pieceCount: number;
}

export class RawPeer {
  readonly frames: WireFrame[] = [];
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;
  isClosed = false;
  /** The first socket or parse error, if any (a reset from a peer that hung up is normal). */
  error: Error | null = null;
  private readonly reader: WireReader;
  private waiters: (() => void)[] = [];
  private discard = false;

  constructor(
    readonly socket: net.Socket,
    opts: { pieceCount?: number; handshake?: boolean } = {},
  ) {
    this.reader = new WireReader({ pieceCount: opts.pieceCount, handshake: opts.handshake });
    socket.on('data', (chunk: Buffer) => {
      if (this.discard) return;
      try {
        this.reader.push(chunk, (f) => this.frames.push(f));
      } catch (err) {
        this.error ??= err as Error;
        this.discard = true;
      }
      this.wake();
    });
    socket.on('error', (err) => {
      this.error ??= err;
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  /** Dial `host:port`; resolves once connected. */
  static connect(port: number, opts: { host?: string; pieceCount?: number } = {}): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: opts.host ?? '127.0.0.1', port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket, { pieceCount: opts.pieceCount }));
      });
    });
  }

  /** Our local `ip:port`, as the other side's event log names us. */
  get address(): string {
    return `${this.socket.localAddress}:${this.socket.localPort}`;
  }

  /** Raw bytes. Returns false when the kernel buffer is full (the socket queues the rest). */
  write(bytes: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  send(...messages: WireMessage[]): boolean {
    return this.write(Buffer.concat(messages.map((m) => encodeMessage(m))));
  }

  handshake(infoHash: Buffer, opts: { fast?: boolean; dht?: boolean; peerId?: Buffer } = {}): boolean {
    const peerId =
      opts.peerId ?? Buffer.from(`-RP0001-${Math.random().toString(36).slice(2, 14).padEnd(12, '0')}`);
    const reserved = makeReserved({ fast: opts.fast ?? false, dht: opts.dht });
    return this.write(encodeHandshake({ infoHash, peerId, reserved }));
  }

  /** Stop reading: replies pile up in the other side's send buffer (for flood tests). */
  stopReading(): void {
    this.socket.pause();
  }

  /**
   * The next received frame that matches `pred` (earlier non-matching frames are dropped). Rejects when
   * the socket closes first or after `timeoutMs`.
   */
  async nextFrame(pred: (f: WireFrame) => boolean = () => true, timeoutMs = 5_000): Promise<WireFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.frames.length > 0) {
        const f = this.frames.shift() as WireFrame;
        if (pred(f)) return f;
      }
      if (this.error && !this.isClosed) throw this.error;
      if (this.isClosed)
        throw new Error(
          `connection closed while waiting for a frame (${this.error?.message ?? 'clean close'})`,
        );
      await this.waitForActivity(deadline, 'a frame');
    }
  }

  /** Resolves when the other side has closed the connection; rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Read (and drop) whatever is queued so the end of stream can arrive even after stopReading().
    this.discard = true;
    this.socket.resume();
    while (!this.isClosed) await this.waitForActivity(deadline, 'the connection to close');
  }

  destroy(): void {
    this.socket.destroy();
  }

  private waitForActivity(deadline: number, what: string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(`timed out waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`timed out waiting for ${what}`));
      }, left);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * A listening raw peer: `onPeer` scripts each accepted connection (the other side dials us). Resolves
 * with the server and its port; close it with `server.close()` and destroy `peers`.
 */
export function listenRaw(
  host: string,
  pieceCount: number,
  onPeer: (peer: RawPeer) => void,
): Promise<{ server: net.Server; port: number; peers: RawPeer[] }> {
  const peers: RawPeer[] = [];
  const server = net.createServer((socket) => {
    const peer = new RawPeer(socket, { pieceCount });
    peers.push(peer);
    onPeer(peer);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as net.AddressInfo).port, peers });
    });
  });
}

/** Every block of the torrent, in order, as request spans. */
export function allBlocks(t: RawTorrent): { index: number; begin: number; length: number }[] {
  const spans: { index: number; begin: number; length: number }[] = [];
  for (let index = 0; index < t.pieceCount; index++) {
    const size = index === t.pieceCount - 1 ? t.length - t.pieceLength * (t.pieceCount - 1) : t.pieceLength;
    for (let begin = 0; begin < size; begin += BLOCK_SIZE) {
      spans.push({ index, begin, length: Math.min(BLOCK_SIZE, size - begin) });
    }
  }
  return spans;
}

/**
 * The well-behaved script: handshake, interested, wait for unchoke, request every block (a window of
 * `depth` at a time) and return the whole content. Proves a seeder still serves correctly.
 */
export async function downloadAll(
  port: number,
  t: RawTorrent,
  opts: { timeoutMs?: number; depth?: number; host?: string } = {},
): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? 8_000;
  const depth = opts.depth ?? 64;
  const peer = await RawPeer.connect(port, { host: opts.host, pieceCount: t.pieceCount });
  try {
    peer.handshake(t.infoHash, { fast: true });
    await peer.nextFrame((f) => f.type === 'Handshake', timeoutMs);
    peer.send({ type: 'Interested' });
    await peer.nextFrame((f) => f.type === 'Unchoke', timeoutMs);
    const out = Buffer.alloc(t.length);
    const spans = allBlocks(t);
    let next = 0;
    let got = 0;
    const ask = (): void => {
      const batch: WireMessage[] = [];
      while (next < spans.length && next - got < depth) batch.push({ type: 'Request', ...spans[next++] });
      if (batch.length > 0) peer.send(...batch);
    };
    ask();
    while (got < spans.length) {
      const f = await peer.nextFrame(
        (m) => m.type === 'Piece' || m.type === 'Reject' || m.type === 'Choke',
        timeoutMs,
      );
      if (f.type !== 'Piece') throw new Error(`seeder sent ${f.type} to a well-behaved peer`);
      f.block.copy(out, f.index * t.pieceLength + f.begin);
      got++;
      ask();
    }
    return out;
  } finally {
    peer.destroy();
  }
}

/** SHA-1 of each piece, concatenated (the metainfo `pieces` string). */
export function pieceHashes(data: Buffer, pieceLength: number): Buffer {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += pieceLength) {
    out.push(
      createHash('sha1')
        .update(data.subarray(off, off + pieceLength))
        .digest(),
    );
  }
  return Buffer.concat(out);
}

/**
 * A single-file torrent of `data` for raw-peer tests: `<dir>/<file>.torrent` written, the content
 * written to `<dir>/<seedDir>/<name>` when `seedDir` is given, and the torrent's shape for raw peers.
 */
export function writeSingleFileTorrent(
  dir: string,
  file: string,
  name: string,
  data: Buffer,
  pieceLength: number,
  seedDir?: string,
  opts: { private?: boolean } = {},
): { torrentFile: string; torrent: RawTorrent } {
  if (seedDir !== undefined) {
    fs.mkdirSync(path.join(dir, seedDir), { recursive: true });
    fs.writeFileSync(path.join(dir, seedDir, name), data);
  }
  const bytes = buildMetainfo({
    name,
    pieceLength,
    pieces: pieceHashes(data, pieceLength),
    files: [{ path: [name], length: data.length }],
    multiFile: false,
    private: opts.private,
  });
  const torrentFile = path.join(dir, `${file}.torrent`);
  fs.writeFileSync(torrentFile, bytes);
  const meta = parseMetainfo(bytes);
  return {
    torrentFile,
    torrent: { infoHash: meta.infoHash, pieceLength, length: data.length, pieceCount: meta.pieceCount },
  };
}
