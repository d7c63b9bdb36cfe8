/**
 * The MSE initiator (peer A, the side that dials) as a pure push parser: `start()` gives step 1, each
 * `push(chunk)` returns what to send and, once step 4 has been read, the outcome.
 *
 * Owns: A's side of the handshake in mse-codec.ts — Ya and PadA, reading Yb, step 3 (with our BitTorrent
 * handshake as IA when given), finding ENCRYPT(VC) within 512+8 bytes after Yb, and checking
 * crypto_select and PadD. Does not own: sockets or timeouts (src/streams/mse-connect.ts), nor what the
 * payload means. Every bad input throws an `MseError` and leaves the parser failed (later calls throw
 * the same error). It holds at most what the peer sent before the handshake completed: Yb, PadB and
 * step 4, plus the chunk that completed it (whose payload bytes come back as `rest`).
 *
 * @example
 *   const a = new MseInitiator({ infoHash, ciphers: ['rc4', 'plaintext'], initialPayload: handshake });
 *   socket.write(a.start());
 *   socket.on('data', (c) => { const step = a.push(c); step.send.forEach((b) => socket.write(b));
 *                              if (step.done) use(step.done.cipher, step.done.rest); });
 */
import { randomBytes } from 'node:crypto';
import {
  MseParser,
  Cipher,
  cipherBits,
  MAX_INITIAL_PAYLOAD,
  MAX_PAD,
  MseError,
  MseOutcome,
  MseStep,
  randomPadLength,
  sniffIncoming,
  VC,
  VC_SYNC_WINDOW,
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
} from './mse-codec';
import {
  checkPublicKey,
  createKeyPair,
  DH_KEY_LENGTH,
  KeyPair,
  obfuscatedInfoHash,
  RandomSource,
  req1Hash,
  sharedSecret,
  streamKeys,
} from './mse-crypto';
import { createRc4, Rc4 } from './mse-rc4';

export interface MseInitiatorOptions {
  infoHash: Buffer;
  /** What we offer in crypto_provide (order does not matter to the responder). */
  ciphers: readonly Cipher[];
  /** IA: sent encrypted in step 3, normally our 68-byte BitTorrent handshake. Default: none. */
  initialPayload?: Buffer;
  random?: RandomSource;
  /** Fixed pad lengths (tests); default PadA random in 0..512, PadC empty. */
  pads?: { a?: number; c?: number };
  /** RC4 factory (tests pick an implementation); default `createRc4`. */
  rc4?: (key: Buffer) => Rc4;
}

type State = 'new' | 'yb' | 'vc' | 'select' | 'padD' | 'done';

export class MseInitiator extends MseParser<MseOutcome> {
  private state: State = 'new';
  private readonly random: RandomSource;
  private readonly keys: KeyPair;
  private readonly provide: number;
  private encrypt?: Rc4;
  private decrypt?: Rc4;
  private vcPattern?: Buffer;
  private selected: Cipher = 'rc4';
  private padD = 0;

  constructor(private readonly o: MseInitiatorOptions) {
    super();
    if (o.infoHash.length !== 20) throw new RangeError('info-hash must be 20 bytes');
    if ((o.initialPayload?.length ?? 0) > MAX_INITIAL_PAYLOAD) throw new RangeError('IA is too long');
    this.provide = cipherBits(o.ciphers);
    if (this.provide === 0) throw new RangeError('no cipher to offer');
    this.random = o.random ?? randomBytes;
    this.keys = createKeyPair(this.random);
  }

  /** Step 1: Ya and PadA. */
  start(): Buffer {
    if (this.state !== 'new') throw new Error('MseInitiator.start called twice');
    this.state = 'yb';
    const padA = this.random(this.o.pads?.a ?? randomPadLength(this.random));
    return Buffer.concat([this.keys.publicKey, padA]);
  }

  override waitingFor(): string {
    switch (this.state) {
      case 'new':
      case 'yb':
        return 'its public key (step 2)';
      case 'vc':
        return 'its verification constant (step 4)';
      default:
        return 'the end of its step 4';
    }
  }

  protected override advance(): MseStep<MseOutcome> {
    const send: Buffer[] = [];
    const q = this.queue;
    for (;;) {
      switch (this.state) {
        case 'yb': {
          if (q.length >= 20 && sniffIncoming(q.peek(20)) === 'plain')
            throw new MseError('plain-handshake', 'peer answered with a plain BitTorrent handshake');
          if (q.length < DH_KEY_LENGTH) return { send };
          const yb = q.take(DH_KEY_LENGTH);
          const bad = checkPublicKey(yb);
          if (bad) throw new MseError('bad-public-key', bad);
          send.push(this.step3(sharedSecret(this.keys.privateKey, yb)));
          this.state = 'vc';
          break;
        }
        case 'vc': {
          const at = q.indexOf(this.vcPattern as Buffer, VC_SYNC_WINDOW);
          if (at < 0) {
            if (q.length >= VC_SYNC_WINDOW)
              throw new MseError('sync-not-found', `no verification constant within ${VC_SYNC_WINDOW} bytes`);
            return { send };
          }
          q.skip(at + VC.length);
          this.state = 'select';
          break;
        }
        case 'select': {
          if (q.length < 6) return { send };
          const f = (this.decrypt as Rc4).update(q.take(6));
          const select = f.readUInt32BE(0);
          if ((select !== CRYPTO_RC4 && select !== CRYPTO_PLAINTEXT) || (select & this.provide) === 0)
            throw new MseError(
              'bad-select',
              `crypto_select 0x${select.toString(16)} (offered 0x${this.provide.toString(16)})`,
            );
          this.selected = select === CRYPTO_RC4 ? 'rc4' : 'plaintext';
          this.padD = f.readUInt16BE(4);
          if (this.padD > MAX_PAD) throw new MseError('pad-too-long', `len(PadD) is ${this.padD}`);
          this.state = 'padD';
          break;
        }
        case 'padD': {
          if (q.length < this.padD) return { send };
          (this.decrypt as Rc4).update(q.take(this.padD));
          this.state = 'done';
          return { send, done: this.outcome() };
        }
        default:
          throw new Error(
            this.state === 'new' ? 'MseInitiator.push before start' : `MseInitiator in state ${this.state}`,
          );
      }
    }
  }

  private step3(secret: Buffer): Buffer {
    const { keyA, keyB } = streamKeys(secret, this.o.infoHash);
    const rc4 = this.o.rc4 ?? createRc4;
    this.encrypt = rc4(keyA);
    this.decrypt = rc4(keyB);
    // B's VC is eight zeros, so its encryption is B's first eight keystream bytes.
    this.vcPattern = this.decrypt.update(VC);
    const ia = this.o.initialPayload ?? Buffer.alloc(0);
    const padC = Buffer.alloc(this.o.pads?.c ?? 0);
    const head = Buffer.alloc(VC.length + 4 + 2);
    head.writeUInt32BE(this.provide, VC.length);
    head.writeUInt16BE(padC.length, VC.length + 4);
    const iaLen = Buffer.alloc(2);
    iaLen.writeUInt16BE(ia.length);
    const encrypted = this.encrypt.update(Buffer.concat([head, padC, iaLen, ia]));
    return Buffer.concat([req1Hash(secret), obfuscatedInfoHash(this.o.infoHash, secret), encrypted]);
  }

  private outcome(): MseOutcome {
    const rest = this.queue.takeAll();
    if (this.selected === 'plaintext') return { cipher: 'plaintext', rest };
    const decrypt = this.decrypt as Rc4;
    return { cipher: 'rc4', encrypt: this.encrypt, decrypt, rest: decrypt.update(rest) };
  }
}
