/**
 * BEP 10 in one connection's protocol transition, without sockets: our extended handshake after the first
 * message, the peer's handshakes and messages decoded into typed facts, sending by name with the peer's
 * ids, unknown ids ignored, malformed payloads closing that peer only; and a connection that does not
 * know the torrent yet (a magnet's), which talks about no pieces.
 */
import {
  PeerConfig,
  PeerEffect,
  PeerEvent,
  PeerIn,
  PeerState,
  initialPeerState,
  peerTransition,
} from '../../src/core/peer-protocol';
import {
  extensionIdFor,
  initialPeerExtensions,
  ourExtensions,
  readExtended,
} from '../../src/core/peer-extensions';
import {
  OUR_EXTENSION_IDS,
  decodeExtensionHandshake,
  encodeExtensionHandshake,
} from '../../src/protocol/extension-handshake';
import { ExtensionError } from '../../src/protocol/extension-error';
import { encodeUtMetadata } from '../../src/protocol/ut-metadata';
import { encodePex } from '../../src/protocol/ut-pex';
import { BitSet, Handshake, WireMessage, makeReserved } from '../../src/protocol/wire-codec';

const geometry = { pieceCount: 10, pieceLength: 32768, length: 10 * 32768 };
const theirId = Buffer.from('-XX0001-abcdefghijkl');

function theirHandshake(opts: { extensions?: boolean; fast?: boolean } = {}): Handshake {
  return {
    type: 'Handshake',
    infoHash: Buffer.alloc(20, 7),
    peerId: theirId,
    reserved: makeReserved({ fast: opts.fast ?? true, extensions: opts.extensions ?? true }),
  };
}

class Conn {
  s: PeerState;
  effects: PeerEffect[] = [];
  events: PeerEvent[] = [];
  constructor(over: Partial<PeerConfig> = {}) {
    const config: PeerConfig = {
      geometry,
      reserved: makeReserved({ fast: true, extensions: true }),
      ourPeerId: Buffer.from('-RX0100-ourselves0000'.slice(0, 20)),
      outgoing: true,
      ourBitfield: () => BitSet.empty(10),
      maxQueuedRequests: 256,
      idleTimeoutMs: 180_000,
      extensions: ourExtensions({ port: () => 6881, metadataSize: 1234, reqq: 256, peerIp: '10.0.0.9' }),
      ...over,
    };
    this.s = initialPeerState(config, 0, 20_000);
  }
  in(m: PeerIn): this {
    const step = peerTransition(this.s, m);
    this.s = step.state;
    this.effects.push(...(step.effects ?? []));
    this.events.push(...(step.events ?? []));
    return this;
  }
  frame(f: WireMessage | Handshake): this {
    return this.in({ type: 'GotFrame', frame: f, now: 1 });
  }
  written(): WireMessage[] {
    return this.effects.flatMap((e) => (e.type === 'Write' ? [e.message] : []));
  }
  closed(): Extract<PeerEvent, { type: 'PeerClosed' }> | undefined {
    return this.events.find((e): e is Extract<PeerEvent, { type: 'PeerClosed' }> => e.type === 'PeerClosed');
  }
}

const ext = (id: number, payload: Buffer | string): WireMessage => ({
  type: 'Extended',
  id,
  payload: Buffer.from(payload),
});
const theirExtHandshake = (m: Record<string, number>, more = ''): Buffer =>
  Buffer.from(
    `d1:md${Object.entries(m)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k.length}:${k}i${v}e`)
      .join('')}e${more}e`,
  );

describe('our extended handshake', () => {
  it('goes out after the first message when both sides set the bit, with our ids, port, reqq, size and yourip', () => {
    const c = new Conn().frame(theirHandshake());
    const w = c.written();
    expect(w.map((m) => m.type)).toEqual(['HaveNone', 'Extended']);
    const hs = decodeExtensionHandshake((w[1] as Extract<WireMessage, { type: 'Extended' }>).payload);
    expect([...hs.m]).toEqual([...OUR_EXTENSION_IDS]);
    expect(hs).toMatchObject({ p: 6881, reqq: 256, metadataSize: 1234, yourip: '10.0.0.9' });
    expect(hs.v).toMatch(/^rxtorrent /);
  });

  it('is not sent to a peer without the BEP 10 bit, and nothing is sent by name to it', () => {
    const c = new Conn().frame(theirHandshake({ extensions: false }));
    expect(c.written().map((m) => m.type)).toEqual(['HaveNone']);
    c.in({ type: 'SendExtended', name: 'ut_pex', payload: Buffer.from('de') });
    expect(c.written().map((m) => m.type)).toEqual(['HaveNone']);
  });

  it('offers nothing for a private torrent', () => {
    const c = new Conn({
      extensions: ourExtensions({ port: () => 0, private: true, metadataSize: 9, reqq: 256, peerIp: '::1' }),
    }).frame(theirHandshake());
    const payload = (c.written()[1] as Extract<WireMessage, { type: 'Extended' }>).payload;
    const hs = decodeExtensionHandshake(payload);
    expect(hs.m.size).toBe(0);
    expect(hs.metadataSize).toBeUndefined();
    expect(hs.p).toBeUndefined(); // not listening yet
    // Their ut_metadata sent to the id we gave it elsewhere: not ours here, ignored.
    c.frame(ext(1, encodeUtMetadata({ type: 'MetadataRequest', piece: 0 })));
    expect(c.events.map((e) => e.type)).toEqual(['PeerHandshaked']);
  });
});

describe("the peer's extended messages", () => {
  it('its handshake becomes a fact and sets the ids we send with; later handshakes add and remove', () => {
    const c = new Conn().frame(theirHandshake());
    c.frame(ext(0, theirExtHandshake({ ut_metadata: 3, ut_pex: 4 }, '4:reqqi77e')));
    const hs = c.events.find((e) => e.type === 'PeerSentExtensionHandshake');
    expect(hs).toMatchObject({ handshake: { reqq: 77 } });
    c.in({ type: 'SendExtended', name: 'ut_pex', payload: Buffer.from('de') });
    c.in({ type: 'SendExtended', name: 'lt_donthave', payload: Buffer.from('de') }); // not declared: dropped
    expect(c.written().slice(2)).toEqual([ext(4, 'de')]);
    c.frame(ext(0, theirExtHandshake({ ut_pex: 0 })));
    c.in({ type: 'SendExtended', name: 'ut_pex', payload: Buffer.from('de') });
    c.in({ type: 'SendExtended', name: 'ut_metadata', payload: Buffer.from('x') });
    expect(c.written().slice(3)).toEqual([ext(3, 'x')]);
  });

  it('ut_metadata and ut_pex at our ids arrive decoded; unknown ids are ignored', () => {
    const c = new Conn().frame(theirHandshake());
    c.frame(ext(1, encodeUtMetadata({ type: 'MetadataRequest', piece: 2 })));
    c.frame(ext(2, encodePex({ added: [{ ip: '10.1.2.3', port: 99, flags: 2 }], dropped: [] })));
    c.frame(ext(77, 'whatever, not bencode'));
    expect(c.events.slice(1)).toEqual([
      {
        type: 'PeerSentExtended',
        message: { name: 'ut_metadata', message: { type: 'MetadataRequest', piece: 2 } },
      },
      {
        type: 'PeerSentExtended',
        message: {
          name: 'ut_pex',
          message: { added: [{ ip: '10.1.2.3', port: 99, flags: 2 }], dropped: [] },
        },
      },
    ]);
    expect(c.closed()).toBeUndefined();
  });

  it.each([
    ['a handshake that is not bencode', 0, 'd1:m'],
    ['a handshake whose m is a list', 0, 'd1:mlee'],
    ['a ut_metadata message without msg_type', 1, 'd5:piecei0ee'],
    ['a ut_metadata data piece of the wrong size', 1, 'd8:msg_typei1e5:piecei0e10:total_sizei100eexyz'],
    ['a ut_pex list that is not whole entries', 2, 'd5:added5:abcdee'],
  ])('%s closes that peer as a violation', (_what, id, payload) => {
    const c = new Conn().frame(theirHandshake());
    c.frame(ext(id, payload));
    expect(c.closed()).toMatchObject({ violation: true, reason: expect.stringMatching(/^protocol error: /) });
    expect(c.effects.at(-1)).toEqual({ type: 'Close' });
  });

  it('an extended handshake before the BITFIELD does not break the first-message rule (Transmission)', () => {
    const c = new Conn().frame(theirHandshake());
    c.frame(ext(0, theirExtHandshake({ ut_pex: 1 })));
    c.frame({ type: 'Bitfield', bits: Buffer.from([0xff, 0xc0]) });
    expect(c.closed()).toBeUndefined();
    expect(c.events.map((e) => e.type)).toContain('PeerGotBitfield');
  });
});

describe('a connection without the metadata (a magnet being fetched)', () => {
  const noMeta = (): Conn => new Conn({ geometry: null, ourBitfield: () => BitSet.empty(0) });

  it('says it has nothing and ignores what the peer has, whatever the size', () => {
    const c = noMeta().frame(theirHandshake());
    expect(c.written()[0]).toEqual({ type: 'HaveNone' });
    c.frame({ type: 'Bitfield', bits: Buffer.alloc(5000, 0xff) });
    c.frame({ type: 'Have', index: 4_000_000 });
    c.frame({ type: 'HaveAll' });
    c.frame({ type: 'Unchoke' });
    expect(c.closed()).toBeUndefined();
    expect(c.events.map((e) => e.type)).toEqual(['PeerHandshaked', 'PeerUnchokedUs']);
  });

  it('sends no bitfield at all to a peer without the fast extension', () => {
    const c = noMeta().frame(theirHandshake({ fast: false }));
    expect(c.written().map((m) => m.type)).toEqual(['Extended']);
  });

  it('rejects requests (choked) and closes on blocks nobody asked for', () => {
    const c = noMeta().frame(theirHandshake());
    c.frame({ type: 'Request', index: 0, begin: 0, length: 16384 });
    expect(c.written().at(-1)).toEqual({ type: 'Reject', index: 0, begin: 0, length: 16384 });
    c.frame({ type: 'Piece', index: 0, begin: 0, block: Buffer.alloc(10) });
    expect(c.closed()).toMatchObject({ violation: true });
  });
});

describe('readExtended', () => {
  it('throws only ExtensionError, and the handshake updates the map additively', () => {
    const e0 = initialPeerExtensions();
    const r = readExtended(
      e0,
      OUR_EXTENSION_IDS,
      0,
      encodeExtensionHandshake({ m: new Map([['ut_pex', 9]]) }),
    );
    expect(r.kind).toBe('handshake');
    const e1 = r.kind === 'handshake' ? r.ext : e0;
    expect(extensionIdFor(e1, 'ut_pex')).toBe(9);
    expect(extensionIdFor(e0, 'ut_pex')).toBeUndefined();
    expect(() => readExtended(e1, OUR_EXTENSION_IDS, 2, Buffer.from('i1e'))).toThrow(ExtensionError);
    expect(readExtended(e1, new Map(), 2, Buffer.from('i1e'))).toEqual({ kind: 'ignored' });
  });
});
