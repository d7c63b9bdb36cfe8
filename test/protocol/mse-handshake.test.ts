import { createHash, randomBytes } from 'node:crypto';
import {
  ByteQueue,
  Cipher,
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
  MseError,
  MseErrorCode,
  policyCiphers,
  REQ1_SYNC_WINDOW,
  sniffIncoming,
  VC_SYNC_WINDOW,
} from '../../src/protocol/mse-codec';
import { bigIntToBuffer, DH_PRIME, req2Hash } from '../../src/protocol/mse-crypto';
import { MseInitiator, MseInitiatorOptions } from '../../src/protocol/mse-initiator';
import { MseLookup, MseResponder, MseResponderOptions } from '../../src/protocol/mse-responder';
import { chop, runPair, seededRandom } from '../support/mse-fixtures';
import { ScriptedInitiator, ScriptedResponder } from '../support/mse-scripted';

const INFO_HASH = createHash('sha1').update('torrent one').digest();
const OTHER_HASH = createHash('sha1').update('torrent two').digest();
const served = new Map([INFO_HASH, OTHER_HASH].map((h) => [req2Hash(h).toString('hex'), h]));
const lookup: MseLookup = (req2) => served.get(req2.toString('hex'));
const HANDSHAKE = Buffer.concat([Buffer.from('\x13BitTorrent protocol', 'latin1'), Buffer.alloc(48, 7)]);

const initiator = (o: Partial<MseInitiatorOptions> = {}) =>
  new MseInitiator({ infoHash: INFO_HASH, ciphers: ['rc4', 'plaintext'], ...o });
const responder = (o: Partial<MseResponderOptions> = {}) =>
  new MseResponder({ lookup, ciphers: ['rc4', 'plaintext'], ...o });

function expectMseError(f: () => unknown, code: MseErrorCode): MseError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(MseError);
    expect((err as MseError).code).toBe(code);
    return err as MseError;
  }
  throw new Error(`expected MseError ${code}, nothing was thrown`);
}

describe('MSE handshake in memory', () => {
  const pairs: [Cipher[], Cipher[], Cipher][] = [
    [['rc4', 'plaintext'], ['rc4', 'plaintext'], 'rc4'],
    [['rc4', 'plaintext'], ['plaintext', 'rc4'], 'plaintext'],
    [['rc4'], ['plaintext', 'rc4'], 'rc4'],
    [['plaintext'], ['rc4', 'plaintext'], 'plaintext'],
    [['rc4'], ['rc4'], 'rc4'],
  ];
  it.each(pairs)('offer %j, accept %j: %s', (offer, accept, expected) => {
    const { a, b } = runPair(
      initiator({ ciphers: offer, initialPayload: HANDSHAKE }),
      responder({ ciphers: accept }),
    );
    expect(a.cipher).toBe(expected);
    expect(b.cipher).toBe(expected);
    expect(b.infoHash.equals(INFO_HASH)).toBe(true);
    expect(b.initialPayload.equals(HANDSHAKE)).toBe(true);
    expect(a.rest.length + b.rest.length).toBe(0);
    if (expected === 'rc4') {
      const x = randomBytes(5000);
      expect(b.decrypt?.update(a.encrypt?.update(x) as Buffer).equals(x)).toBe(true);
      expect(a.decrypt?.update(b.encrypt?.update(x) as Buffer).equals(x)).toBe(true);
    } else {
      expect(a.encrypt ?? a.decrypt ?? b.encrypt ?? b.decrypt).toBeUndefined();
    }
  });

  it('maps the policies to cipher preferences', () => {
    expect(policyCiphers('required')).toEqual(['rc4']);
    expect(policyCiphers('preferred')).toEqual(['rc4', 'plaintext']);
    expect(policyCiphers('tolerated')).toEqual(['plaintext', 'rc4']);
  });

  it('finishes whatever the chunking and pad lengths (1-byte chunks, 512-byte pads, empty and 64 KiB IA)', () => {
    const random = seededRandom(11);
    const cases = [
      { pads: 0, ia: Buffer.alloc(0), chunk: () => 1 },
      { pads: 512, ia: HANDSHAKE, chunk: () => 1 },
      { pads: 512, ia: randomBytes(0xffff), chunk: () => 1 + (random(2).readUInt16BE(0) % 3000) },
      { pads: 100, ia: HANDSHAKE, chunk: () => 1 + (random(1)[0] % 40) },
    ];
    for (const c of cases) {
      const a = initiator({ initialPayload: c.ia, pads: { a: c.pads, c: c.pads } });
      const b = responder({ pads: { b: c.pads, d: c.pads } });
      const r = runPair(a, b, c.chunk);
      expect(r.b.initialPayload.equals(c.ia)).toBe(true);
      expect(r.a.cipher).toBe('rc4');
      // Bounded: never more than one step of the peer's handshake plus the chunk being parsed.
      expect(b.maxBuffered).toBeLessThanOrEqual(REQ1_SYNC_WINDOW + 20 + 14 + 512 + 2 + c.ia.length);
      expect(a.maxBuffered).toBeLessThanOrEqual(96 + VC_SYNC_WINDOW + 6 + 512);
    }
  });

  it('uses random pads by default, and a seeded source makes the handshake reproducible', () => {
    const run = (seed: number) => {
      const a = initiator({ random: seededRandom(seed) });
      return a.start();
    };
    expect(run(5).equals(run(5))).toBe(true);
    expect(run(5).equals(run(6))).toBe(false);
    const lengths = new Set(Array.from({ length: 20 }, (_, i) => run(100 + i).length));
    expect(lengths.size).toBeGreaterThan(1);
    for (const n of lengths) expect(n).toBeLessThanOrEqual(96 + 512);
  });

  it('hands over payload that arrived with the last handshake bytes, decrypted', () => {
    const a = initiator({ initialPayload: HANDSHAKE, ciphers: ['rc4'] });
    const b = responder();
    const step1 = a.start();
    const [step2] = b.push(step1).send;
    const [step3] = a.push(step2).send;
    const done = b.push(step3);
    const bOut = done.done;
    if (!bOut?.encrypt) throw new Error('responder did not finish with RC4');
    const payload = randomBytes(3000);
    const aDone = a.push(Buffer.concat([done.send[0], bOut.encrypt.update(payload)])).done;
    expect(aDone?.rest.equals(payload)).toBe(true);

    // And the responder's side: an initiator that offered RC4 only may pipeline after step 3.
    const s = new ScriptedInitiator(INFO_HASH);
    const r = responder();
    const yb = r.push(s.step1(10)).send[0];
    const step3b = s.step3(yb, { provide: CRYPTO_RC4, ia: HANDSHAKE });
    const extra = s.encrypt?.update(payload) as Buffer;
    const out = r.push(Buffer.concat([step3b, extra])).done;
    expect(out?.initialPayload.equals(HANDSHAKE)).toBe(true);
    expect(out?.rest.equals(payload)).toBe(true);
  });

  it('tells a plain handshake from an encrypted one by the first bytes', () => {
    expect(sniffIncoming(Buffer.alloc(0))).toBe('undecided');
    expect(sniffIncoming(HANDSHAKE.subarray(0, 5))).toBe('undecided');
    expect(sniffIncoming(HANDSHAKE.subarray(0, 20))).toBe('plain');
    expect(sniffIncoming(HANDSHAKE)).toBe('plain');
    expect(sniffIncoming(Buffer.from([0x13, 0x42, 0x00]))).toBe('encrypted');
    expect(sniffIncoming(Buffer.from([0xf8]))).toBe('encrypted');
  });
});

describe('ByteQueue', () => {
  it('takes, peeks and searches across chunks, within a window', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('hello '));
    q.push(Buffer.alloc(3000, 0x2e));
    q.push(Buffer.from('world'));
    expect(q.length).toBe(3011);
    expect(q.peek(5).toString()).toBe('hello');
    expect(q.indexOf(Buffer.from('world'), 3011)).toBe(3006);
    expect(q.indexOf(Buffer.from('world'), 3010)).toBe(-1);
    q.skip(6);
    expect(q.take(3000).every((b) => b === 0x2e)).toBe(true);
    expect(q.takeAll().toString()).toBe('world');
    expect(q.length).toBe(0);
  });

  it('merges a byte-per-packet stream instead of holding a Buffer per byte', () => {
    const q = new ByteQueue();
    const data = randomBytes(70_000);
    for (let i = 0; i < data.length; i++) q.push(data.subarray(i, i + 1));
    expect(q.chunkCount).toBeLessThanOrEqual(Math.ceil(data.length / 1024));
    q.skip(1);
    expect(q.take(65_000).equals(data.subarray(1, 65_001))).toBe(true);
  });
});

describe('MSE responder on hostile input', () => {
  const key = (v: bigint) => bigIntToBuffer(v, 96);

  it.each([
    ['0', 0n],
    ['1', 1n],
    ['P-1', DH_PRIME - 1n],
    ['P', DH_PRIME],
  ])('refuses a public key of %s', (_name, v) => {
    expectMseError(() => responder().push(key(v)), 'bad-public-key');
  });

  it('refuses garbage once the sync window has passed, holding no more than the window', () => {
    const b = responder();
    const garbage = randomBytes(96 + REQ1_SYNC_WINDOW + 100);
    let err: unknown;
    for (const c of chop(garbage, () => 7)) {
      try {
        b.push(c);
      } catch (e) {
        err = e;
        break;
      }
    }
    expect((err as MseError).code).toBe('sync-not-found');
    expect(b.maxBuffered).toBeLessThan(REQ1_SYNC_WINDOW);
    // Failed for good: later input gets the same error.
    expectMseError(() => b.push(Buffer.alloc(1)), 'sync-not-found');
  });

  it('fails at once on a flood in one chunk', () => {
    expectMseError(() => responder().push(randomBytes(1 << 20)), 'sync-not-found');
  });

  function against(o: Parameters<ScriptedInitiator['step3']>[1], r = responder()) {
    const s = new ScriptedInitiator(INFO_HASH);
    const yb = r.push(s.step1(33)).send[0];
    return () => r.push(s.step3(yb, o));
  }

  it('refuses a req1 hash made with another secret', () => {
    expectMseError(
      against({ req1: randomBytes(20), before: randomBytes(REQ1_SYNC_WINDOW - 33) }),
      'sync-not-found',
    );
  });

  it('finds req1 at the far end of the window, and not one byte further', () => {
    expect(against({ before: randomBytes(512 - 33) })().done).toBeDefined();
    expectMseError(against({ before: randomBytes(513 - 33) }), 'sync-not-found');
  });

  it('refuses a torrent it does not serve', () => {
    expectMseError(against({ skey: randomBytes(20) }), 'unknown-info-hash');
  });

  it('refuses a wrong VC and a missing one', () => {
    expectMseError(against({ vc: Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]) }), 'bad-vc');
    expectMseError(against({ vc: Buffer.alloc(0), padCLength: 20 }), 'bad-vc');
  });

  it('refuses PadC over 512 bytes (and takes exactly 512)', () => {
    expectMseError(against({ padCLength: 513 }), 'pad-too-long');
    expect(against({ padCLength: 512 })().done).toBeDefined();
  });

  it('refuses a crypto_provide with nothing it accepts', () => {
    expectMseError(against({ provide: 0 }), 'no-common-cipher');
    expectMseError(against({ provide: 0xfffffffc }), 'no-common-cipher');
    expectMseError(
      against({ provide: CRYPTO_PLAINTEXT }, responder({ ciphers: ['rc4'] })),
      'no-common-cipher',
    );
    expect(against({ provide: 0xffffffff }, responder({ ciphers: ['rc4'] }))().done?.cipher).toBe('rc4');
  });

  it('waits for a long IA and says it was cut short when the stream ends', () => {
    const s = new ScriptedInitiator(INFO_HASH);
    const r = responder();
    const yb = r.push(s.step1()).send[0];
    const step3 = s.step3(yb, { ia: randomBytes(1000) });
    expect(r.push(step3.subarray(0, step3.length - 1)).done).toBeUndefined();
    const e = expectMseError(() => r.end(), 'closed');
    expect(e.message).toMatch(/step 3/);
    expectMseError(() => responder().end(), 'closed');
  });
});

describe('MSE initiator on hostile input', () => {
  it.each([
    ['0', 0n],
    ['1', 1n],
    ['P-1', DH_PRIME - 1n],
  ])('refuses a public key of %s', (_name, v) => {
    const a = initiator();
    a.start();
    expectMseError(() => a.push(bigIntToBuffer(v, 96)), 'bad-public-key');
  });

  it('says so when the peer answers in plain BitTorrent', () => {
    const a = initiator();
    a.start();
    expect(a.push(HANDSHAKE.subarray(0, 10)).send).toEqual([]);
    expectMseError(() => a.push(HANDSHAKE.subarray(10)), 'plain-handshake');
  });

  function against(
    o: Parameters<ScriptedResponder['step4']>[0],
    ciphers: Cipher[] = ['rc4', 'plaintext'],
    padB = 0,
  ) {
    const a = initiator({ ciphers });
    const s = new ScriptedResponder(INFO_HASH);
    const step2 = s.step2(a.start(), padB);
    a.push(step2);
    return () => a.push(s.step4(o));
  }

  it('refuses a missing or wrong VC once 520 bytes have passed', () => {
    expectMseError(against({ vc: Buffer.alloc(8, 1), padDLength: 600 }), 'sync-not-found');
    expectMseError(against({ vc: Buffer.alloc(0), padDLength: 600 }), 'sync-not-found');
  });

  it('refuses a crypto_select it did not offer, or not exactly one method', () => {
    expectMseError(against({ select: CRYPTO_PLAINTEXT }, ['rc4']), 'bad-select');
    expectMseError(against({ select: CRYPTO_RC4 }, ['plaintext']), 'bad-select');
    expectMseError(against({ select: CRYPTO_RC4 | CRYPTO_PLAINTEXT }), 'bad-select');
    expectMseError(against({ select: 0 }), 'bad-select');
    expectMseError(against({ select: 0x80 }), 'bad-select');
    expect(against({ select: CRYPTO_PLAINTEXT })().done?.cipher).toBe('plaintext');
  });

  it('refuses PadD over 512 bytes', () => {
    expectMseError(against({ padDLength: 513 }), 'pad-too-long');
    expect(against({ padDLength: 512 })().done?.cipher).toBe('rc4');
  });

  it('says where the stream stopped', () => {
    const a = initiator();
    a.start();
    expect(expectMseError(() => a.end(), 'closed').message).toMatch(/step 2/);
    const b = initiator();
    const s = new ScriptedResponder(INFO_HASH);
    b.push(s.step2(b.start(), 100));
    expect(expectMseError(() => b.end(), 'closed').message).toMatch(/step 4/);
  });
});
