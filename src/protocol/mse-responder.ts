/**
 * The MSE responder (peer B, the side that accepts) as a pure push parser: each `push(chunk)` returns
 * what to send and, once the initiator's IA has been read, the outcome with the torrent it named.
 *
 * Owns: B's side of the handshake in mse-codec.ts — reading Ya, sending Yb and PadB, finding
 * HASH('req1', S) within 512+20 bytes after Ya, resolving the torrent through `lookup`, checking VC,
 * crypto_provide and PadC, reading IA, and sending step 4 with the cipher our policy selects. Does not
 * own: sockets, timeouts, telling a plain handshake from an encrypted one (`sniffIncoming`, the listener)
 * or the torrent table (`lookup`). Every bad input throws an `MseError` and leaves the parser failed.
 * Between pushes it holds at most Ya (96), the sync window (532), the 20-byte torrent id, 14 bytes of
 * header, PadC (512) and IA (65535), plus what arrived in the chunk that completed it.
 *
 * @example
 *   const b = new MseResponder({ lookup: (h) => served.get(h.toString('hex')), ciphers: ['rc4', 'plaintext'] });
 *   socket.on('data', (c) => { const step = b.push(c); step.send.forEach((x) => socket.write(x));
 *                              if (step.done) route(step.done.infoHash, step.done.initialPayload); });
 */
import { randomBytes } from 'node:crypto';
import {
  MseParser,
  Cipher,
  cipherBit,
  MAX_PAD,
  MseError,
  MseOutcome,
  MseStep,
  randomPadLength,
  REQ1_SYNC_WINDOW,
  selectCipher,
  VC,
} from './mse-codec';
import {
  checkPublicKey,
  createKeyPair,
  DH_KEY_LENGTH,
  KeyPair,
  RandomSource,
  req1Hash,
  req3Hash,
  sharedSecret,
  streamKeys,
  xor,
} from './mse-crypto';
import { createRc4, Rc4 } from './mse-rc4';

/** Maps HASH('req2', infoHash) (20 bytes) to the info-hash of a torrent we serve. */
export type MseLookup = (req2: Buffer) => Buffer | undefined;

export interface MseResponderOptions {
  lookup: MseLookup;
  /** What we accept, most wanted first. */
  ciphers: readonly Cipher[];
  random?: RandomSource;
  /** Fixed pad lengths (tests); default PadB random in 0..512, PadD empty. */
  pads?: { b?: number; d?: number };
  rc4?: (key: Buffer) => Rc4;
}

export interface MseAccepted extends MseOutcome {
  infoHash: Buffer;
  /** IA, decrypted: normally the initiator's BitTorrent handshake; may be empty. */
  initialPayload: Buffer;
}

type State = 'ya' | 'req1' | 'skey' | 'provide' | 'padC' | 'iaLength' | 'ia' | 'done';

export class MseResponder extends MseParser<MseAccepted> {
  private state: State = 'ya';
  private readonly random: RandomSource;
  private readonly keys: KeyPair;
  private secret?: Buffer;
  private req1?: Buffer;
  private infoHash?: Buffer;
  private encrypt?: Rc4;
  private decrypt?: Rc4;
  private selected: Cipher = 'rc4';
  private need = 0;

  constructor(private readonly o: MseResponderOptions) {
    super();
    if (o.ciphers.length === 0) throw new RangeError('no cipher to accept');
    this.random = o.random ?? randomBytes;
    this.keys = createKeyPair(this.random);
  }

  override waitingFor(): string {
    switch (this.state) {
      case 'ya':
        return 'its public key (step 1)';
      case 'req1':
        return 'its sync hash (step 3)';
      default:
        return 'the end of its step 3';
    }
  }

  protected override advance(): MseStep<MseAccepted> {
    const send: Buffer[] = [];
    const q = this.queue;
    for (;;) {
      switch (this.state) {
        case 'ya': {
          if (q.length < DH_KEY_LENGTH) return { send };
          const ya = q.take(DH_KEY_LENGTH);
          const bad = checkPublicKey(ya);
          if (bad) throw new MseError('bad-public-key', bad);
          this.secret = sharedSecret(this.keys.privateKey, ya);
          this.req1 = req1Hash(this.secret);
          const padB = this.random(this.o.pads?.b ?? randomPadLength(this.random));
          send.push(Buffer.concat([this.keys.publicKey, padB]));
          this.state = 'req1';
          break;
        }
        case 'req1': {
          const at = q.indexOf(this.req1 as Buffer, REQ1_SYNC_WINDOW);
          if (at < 0) {
            if (q.length >= REQ1_SYNC_WINDOW)
              throw new MseError(
                'sync-not-found',
                `no sync hash within ${REQ1_SYNC_WINDOW} bytes after the key`,
              );
            return { send };
          }
          q.skip(at + 20);
          this.state = 'skey';
          break;
        }
        case 'skey': {
          if (q.length < 20) return { send };
          const secret = this.secret as Buffer;
          const infoHash = this.o.lookup(xor(q.take(20), req3Hash(secret)));
          if (!infoHash)
            throw new MseError('unknown-info-hash', 'the peer asked for a torrent we do not serve');
          this.infoHash = infoHash;
          const { keyA, keyB } = streamKeys(secret, infoHash);
          const rc4 = this.o.rc4 ?? createRc4;
          this.decrypt = rc4(keyA);
          this.encrypt = rc4(keyB);
          this.state = 'provide';
          break;
        }
        case 'provide': {
          if (q.length < VC.length + 6) return { send };
          const f = (this.decrypt as Rc4).update(q.take(VC.length + 6));
          if (!f.subarray(0, VC.length).equals(VC))
            throw new MseError('bad-vc', 'verification constant is not zero (wrong key or garbage)');
          const provide = f.readUInt32BE(VC.length);
          const chosen = selectCipher(provide, this.o.ciphers);
          if (!chosen)
            throw new MseError(
              'no-common-cipher',
              `peer offers 0x${provide.toString(16)}, we accept ${this.o.ciphers.join('/')}`,
            );
          this.selected = chosen;
          this.need = f.readUInt16BE(VC.length + 4);
          if (this.need > MAX_PAD) throw new MseError('pad-too-long', `len(PadC) is ${this.need}`);
          this.state = 'padC';
          break;
        }
        case 'padC':
          if (q.length < this.need) return { send };
          (this.decrypt as Rc4).update(q.take(this.need));
          this.state = 'iaLength';
          break;
        case 'iaLength':
          if (q.length < 2) return { send };
          this.need = (this.decrypt as Rc4).update(q.take(2)).readUInt16BE(0);
          this.state = 'ia';
          break;
        case 'ia': {
          if (q.length < this.need) return { send };
          const initialPayload = (this.decrypt as Rc4).update(q.take(this.need));
          send.push(this.step4());
          this.state = 'done';
          return { send, done: this.outcome(initialPayload) };
        }
        default:
          throw new Error(`MseResponder in state ${this.state}`);
      }
    }
  }

  private step4(): Buffer {
    const padD = Buffer.alloc(this.o.pads?.d ?? 0);
    const head = Buffer.alloc(VC.length + 6);
    head.writeUInt32BE(cipherBit(this.selected), VC.length);
    head.writeUInt16BE(padD.length, VC.length + 4);
    return (this.encrypt as Rc4).update(Buffer.concat([head, padD]));
  }

  private outcome(initialPayload: Buffer): MseAccepted {
    const rest = this.queue.takeAll();
    const infoHash = this.infoHash as Buffer;
    if (this.selected === 'plaintext') return { cipher: 'plaintext', infoHash, initialPayload, rest };
    const decrypt = this.decrypt as Rc4;
    return {
      cipher: 'rc4',
      infoHash,
      initialPayload,
      encrypt: this.encrypt,
      decrypt,
      rest: decrypt.update(rest),
    };
  }
}
