/**
 * MSE/PE handshake vocabulary shared by the initiator and the responder: constants, policies, typed
 * errors, the sniff that tells a plain BitTorrent handshake from an encrypted one, and a byte queue
 * with bounded searches.
 *
 * The handshake (A dials B; SKEY is the info-hash; ENCRYPT is RC4-drop1024 keyed keyA from A and keyB
 * from B; every length is big-endian):
 *
 *   1  A->B  Ya:96 PadA:0..512
 *   2  B->A  Yb:96 PadB:0..512
 *   3  A->B  HASH('req1',S):20  HASH('req2',SKEY) xor HASH('req3',S):20
 *            ENCRYPT( VC:8 crypto_provide:4 len(PadC):2 PadC:0..512 len(IA):2 IA )
 *   4  B->A  ENCRYPT( VC:8 crypto_select:4 len(PadD):2 PadD:0..512 )  then the payload stream
 *   5  A->B  the payload stream
 *
 * VC is eight zero bytes. crypto_provide/select bits: 0x01 plaintext, 0x02 RC4. After step 4 the payload
 * is RC4 (continuing both keystreams) or plaintext, as selected; IA is RC4 either way. B finds the end
 * of PadA by searching for HASH('req1',S) within 512+20 bytes after Ya; A finds the end of PadB by
 * searching for ENCRYPT(VC) within 512+8 bytes after Yb.
 *
 * Policies (what `--encryption` will mean; ours to choose, see README):
 *   required   offer and accept RC4 only: the whole stream is encrypted, plain peers are refused.
 *   preferred  offer RC4 and plaintext; as responder select RC4 when offered, else plaintext.
 *   tolerated  dial plain; as responder accept MSE and select plaintext when offered (header only,
 *              no cipher cost), else RC4.
 */
import type { Rc4 } from './mse-rc4';

export const VC = Buffer.alloc(8);
export const CRYPTO_PLAINTEXT = 0x01;
export const CRYPTO_RC4 = 0x02;
/** Longest PadA..PadD the spec allows. */
export const MAX_PAD = 512;
/** Window in which B must find HASH('req1', S), counted from the byte after Ya. */
export const REQ1_SYNC_WINDOW = MAX_PAD + 20;
/** Window in which A must find ENCRYPT(VC), counted from the byte after Yb. */
export const VC_SYNC_WINDOW = MAX_PAD + 8;
/** len(IA) is two bytes. */
export const MAX_INITIAL_PAYLOAD = 0xffff;

export type Cipher = 'plaintext' | 'rc4';
export type EncryptionPolicy = 'preferred' | 'required' | 'tolerated';

export const ENCRYPTION_POLICIES: readonly EncryptionPolicy[] = ['preferred', 'required', 'tolerated'];

/** Ciphers a policy accepts in an MSE handshake, most wanted first. */
export function policyCiphers(policy: EncryptionPolicy): readonly Cipher[] {
  switch (policy) {
    case 'required':
      return ['rc4'];
    case 'preferred':
      return ['rc4', 'plaintext'];
    case 'tolerated':
      return ['plaintext', 'rc4'];
  }
}

export function cipherBit(c: Cipher): number {
  return c === 'rc4' ? CRYPTO_RC4 : CRYPTO_PLAINTEXT;
}

export function cipherBits(ciphers: readonly Cipher[]): number {
  let bits = 0;
  for (const c of ciphers) bits |= cipherBit(c);
  return bits;
}

/** The first of `wanted` that `provide` offers. */
export function selectCipher(provide: number, wanted: readonly Cipher[]): Cipher | undefined {
  return wanted.find((c) => (provide & cipherBit(c)) !== 0);
}

export type MseErrorCode =
  /** A public key of 0, 1, P-1 or not below P. */
  | 'bad-public-key'
  /** We dialled encrypted and the peer answered with a plain BitTorrent handshake. */
  | 'plain-handshake'
  /** HASH('req1', S) or ENCRYPT(VC) was not within its window: garbage, or a wrong key. */
  | 'sync-not-found'
  /** The obfuscated info-hash names no torrent we serve. */
  | 'unknown-info-hash'
  /** The verification constant did not decrypt to zeros. */
  | 'bad-vc'
  /** len(PadC) or len(PadD) above 512. */
  | 'pad-too-long'
  /** crypto_provide offers nothing our policy accepts. */
  | 'no-common-cipher'
  /** crypto_select is not exactly one method we offered. */
  | 'bad-select'
  /** The connection ended, was reset or failed before the handshake finished. */
  | 'closed'
  /** The handshake did not finish within its time. */
  | 'timeout';

export class MseError extends Error {
  constructor(
    readonly code: MseErrorCode,
    detail: string,
  ) {
    super(`mse: ${detail}`);
    this.name = 'MseError';
  }
}

/** What a finished handshake hands over. */
export interface MseOutcome {
  cipher: Cipher;
  /** RC4 for what we send and what we receive; absent when plaintext was selected. */
  encrypt?: Rc4;
  decrypt?: Rc4;
  /** Payload bytes that came after the handshake, already decrypted. */
  rest: Buffer;
}

/** One push's effects: bytes to send (in order), and the outcome once the handshake is done. */
export interface MseStep<T extends MseOutcome> {
  send: Buffer[];
  done?: T;
}

const PLAIN_HEADER = Buffer.from('\x13BitTorrent protocol', 'latin1');

/**
 * Tells an incoming connection's first bytes apart: 'plain' once all 20 bytes of
 * `\x13BitTorrent protocol` are there, 'encrypted' as soon as a byte differs, 'undecided' before.
 */
export function sniffIncoming(head: Buffer): 'plain' | 'encrypted' | 'undecided' {
  const n = Math.min(head.length, PLAIN_HEADER.length);
  for (let i = 0; i < n; i++) if (head[i] !== PLAIN_HEADER[i]) return 'encrypted';
  return n === PLAIN_HEADER.length ? 'plain' : 'undecided';
}

/** A pad length in 0..512 from two random bytes. */
export function randomPadLength(random: (n: number) => Buffer): number {
  return random(2).readUInt16BE(0) % (MAX_PAD + 1);
}

/**
 * A FIFO of received chunks with a read offset: taking bytes that lie in one chunk returns a view, and
 * searches look only at a bounded prefix, so a peer that dribbles single bytes costs O(window) per byte.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private offset = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.length += chunk.length;
    // A peer sending a byte per packet must not cost a Buffer object per byte: small chunks are merged
    // (copying at most 2 KiB per push).
    const last = this.chunks.length - 1;
    if (last >= 0 && this.chunks[last].length + chunk.length <= 2048) {
      this.chunks[last] = Buffer.concat([this.chunks[last], chunk]);
      return;
    }
    this.chunks.push(chunk);
  }

  /** Buffers held (for tests of the merging above). */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /** The first n bytes (n <= length), without consuming them. */
  peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (let c = 0; filled < n; c++) {
      const chunk = this.chunks[c];
      const start = c === 0 ? this.offset : 0;
      filled += chunk.copy(out, filled, start, Math.min(chunk.length, start + n - filled));
    }
    return out;
  }

  /** Remove and return the first n bytes (n <= length). */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const left = this.chunks[0].length - this.offset;
      if (n < left) {
        this.offset += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.offset = 0;
    }
  }

  /** Everything queued, consumed. */
  takeAll(): Buffer {
    return this.take(this.length);
  }

  /** Where `pattern` starts if it lies wholly within the first `window` bytes, else -1. */
  indexOf(pattern: Buffer, window: number): number {
    const n = Math.min(window, this.length);
    return n < pattern.length ? -1 : this.peek(n).indexOf(pattern);
  }
}

/**
 * What the initiator and the responder share: the queue, the failed-for-good rule (after an MseError
 * every call throws it again), the end-of-stream check and the buffering high-water mark.
 */
export abstract class MseParser<T extends MseOutcome> {
  protected readonly queue = new ByteQueue();
  protected finished = false;
  private error?: MseError;
  /** Most bytes held between pushes (for tests of bounded buffering). */
  maxBuffered = 0;

  /** Takes a received chunk (which the parser may keep a view of) and returns the effects. */
  push(chunk: Buffer): MseStep<T> {
    if (this.error) throw this.error;
    if (this.finished) throw new Error('push after the handshake finished');
    this.queue.push(chunk);
    try {
      const step = this.advance();
      if (step.done) this.finished = true;
      this.maxBuffered = Math.max(this.maxBuffered, this.queue.length);
      return step;
    } catch (err) {
      if (err instanceof MseError) this.error = err;
      throw err;
    }
  }

  /** The peer ended the stream: throws MseError('closed') unless the handshake already finished. */
  end(): void {
    if (this.finished) return;
    this.error ??= new MseError(
      'closed',
      `peer closed the connection while we waited for ${this.waitingFor()}`,
    );
    throw this.error;
  }

  /** What the handshake waits for, in words (for error messages). */
  abstract waitingFor(): string;

  /** Parses what the queue holds as far as it goes. */
  protected abstract advance(): MseStep<T>;
}
