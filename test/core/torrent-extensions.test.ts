/**
 * A torrent's BEP 10 decisions as pure logic (TorrentLogic with stand-in connections, an injected clock):
 * serving the info dictionary over ut_metadata, a metadata request flood, the peer's `reqq` capping our
 * requests, PEX both ways (what we advertise, what we learn, through the peer list with its bans), a PEX
 * flood, and a private torrent doing none of it.
 */
import { PeerCommand, PeerEvent } from '../../src/core/peer-protocol';
import { decodeUtMetadata } from '../../src/protocol/ut-metadata';
import { PexFlag, decodePex } from '../../src/protocol/ut-pex';
import { INFO, Lab } from '../support/torrent-lab';

const request = (piece: number): PeerEvent => ({
  type: 'PeerSentExtended',
  message: { name: 'ut_metadata', message: { type: 'MetadataRequest', piece } },
});
const extended = (cmds: PeerCommand[], name: string): Buffer[] =>
  cmds.flatMap((c) => (c.type === 'SendExtended' && c.name === name ? [c.payload] : []));

describe('serving the metadata (BEP 9)', () => {
  it('answers each piece with its bytes and a piece past the end with a reject', () => {
    const lab = new Lab();
    lab.connect('10.0.0.2:5000', true);
    lab.take();
    for (const piece of [0, 2, 3]) lab.peer('10.0.0.2:5000', request(piece));
    const replies = extended(lab.toPeer('10.0.0.2:5000'), 'ut_metadata').map(decodeUtMetadata);
    expect(replies.map((r) => r.type)).toEqual(['MetadataData', 'MetadataData', 'MetadataReject']);
    expect(replies[1]).toMatchObject({ piece: 2, totalSize: INFO.length });
    const last = replies[1] as Extract<(typeof replies)[number], { type: 'MetadataData' }>;
    expect(last.data.equals(INFO.subarray(32768))).toBe(true);
  });

  it('rejects after a few rounds, then closes and strikes a peer that keeps asking', () => {
    const lab = new Lab();
    lab.connect('10.0.0.2:5000', true);
    lab.take();
    const limit = lab.logic.ext.requestLimit;
    for (let i = 0; i <= limit; i++) lab.peer('10.0.0.2:5000', request(i % 3));
    const cmds = lab.toPeer('10.0.0.2:5000');
    const replies = extended(cmds, 'ut_metadata').map(decodeUtMetadata);
    expect(replies.length).toBe(limit);
    expect(replies.filter((r) => r.type === 'MetadataData').length).toBe(4 * 3 + 2);
    expect(cmds.at(-1)).toMatchObject({ type: 'Close', reason: expect.stringMatching(/metadata requests/) });
  });

  it('a private torrent serves nothing', () => {
    const lab = new Lab({ private: true });
    lab.connect('10.0.0.2:5000', true);
    lab.take();
    lab.peer('10.0.0.2:5000', request(0));
    expect(lab.toPeer('10.0.0.2:5000')).toEqual([]);
  });
});

describe("the peer's reqq", () => {
  it('caps the requests we keep queued at that peer', () => {
    const lab = new Lab();
    const v = lab.connect('10.0.0.2:5000', true);
    lab.extHandshake('10.0.0.2:5000', { reqq: 5 });
    lab.peer('10.0.0.2:5000', { type: 'PeerGotHaveAll' });
    v.amInterested = true; // what the connection does with the SetInterested command
    lab.peer('10.0.0.2:5000', { type: 'PeerUnchokedUs' });
    lab.tick(1000);
    const spans = lab.toPeer('10.0.0.2:5000').flatMap((c) => (c.type === 'RequestBlocks' ? c.spans : []));
    expect(spans.length).toBe(5);
  });
});

describe('peer exchange (BEP 11)', () => {
  it('tells a PEX peer about the others: dialled ones at their address, incoming ones at their `p`', () => {
    const lab = new Lab();
    lab.connect('10.0.0.2:5000', true);
    lab.peer('10.0.0.2:5000', { type: 'PeerGotHaveAll' });
    lab.connect('10.0.0.3:40001', false);
    lab.extHandshake('10.0.0.3:40001', { p: 7003 });
    lab.connect('10.0.0.4:40002', false); // incoming, no `p`: cannot be dialled, not advertised
    lab.connect('10.0.0.5:6000', true);
    lab.extHandshake('10.0.0.5:6000', { m: new Map([['ut_pex', 4]]) });
    lab.take();
    lab.tick(1000);
    const [payload] = extended(lab.toPeer('10.0.0.5:6000'), 'ut_pex');
    const sent = decodePex(payload);
    expect(sent.added).toEqual([
      { ip: '10.0.0.2', port: 5000, flags: PexFlag.Seed | PexFlag.Reachable },
      { ip: '10.0.0.3', port: 7003, flags: 0 },
    ]);
    lab.tick(1000); // nothing new, and not within the minute anyway
    expect(extended(lab.toPeer('10.0.0.5:6000'), 'ut_pex')).toEqual([]);
  });

  it('learns addresses into the peer list (source pex) and dials them; a banned machine is not dialled', () => {
    const lab = new Lab();
    lab.connect('10.0.0.5:6000', true);
    lab.extHandshake('10.0.0.5:6000', { m: new Map([['ut_pex', 4]]) });
    // 10.9.9.9 sends bad data three times: banned.
    for (let i = 0; i < 3; i++) lab.logic.strike('10.9.9.9:1', 'bad data');
    lab.take();
    lab.peer('10.0.0.5:6000', {
      type: 'PeerSentExtended',
      message: {
        name: 'ut_pex',
        message: {
          added: [
            { ip: '10.7.7.7', port: 7777, flags: 0 },
            { ip: '10.9.9.9', port: 9999, flags: 0 },
          ],
          dropped: [],
        },
      },
    });
    const dials = lab.take().flatMap((e) => (e.type === 'Dial' ? [e.key] : []));
    expect(dials).toEqual(['10.7.7.7:7777']);
    expect(lab.events.find((e) => e.type === 'PeersLearned')).toMatchObject({ source: 'pex', added: 1 });
  });

  it('an address that turns out to be a peer already connected is not redialled in a loop', () => {
    const lab = new Lab({ peerId: Buffer.from('-ZZ0100-zzzzzzzzzzzz') }); // larger than theirs: theirs kept
    const a = lab.connect('10.0.0.5:40000', false); // A dialled us
    lab.extHandshake('10.0.0.5:40000', { m: new Map([['ut_pex', 4]]) });
    lab.take();
    // Someone tells us A's listen address; we dial it, and it is A again (same peer id): a duplicate.
    lab.send({ type: 'PeersFound', peers: [{ ip: '10.0.0.5', port: 7000 }], source: 'pex' });
    expect(lab.take().filter((e) => e.type === 'Dial')).toHaveLength(1);
    lab.connect('10.0.0.5:7000', true, a.peerId);
    expect(lab.toPeer('10.0.0.5:7000')).toEqual([
      { type: 'Close', reason: expect.stringMatching(/^duplicate/) },
    ]);
    lab.peer('10.0.0.5:7000', { type: 'PeerClosed', reason: 'duplicate', violation: false });
    lab.tick(1000);
    expect(lab.take().filter((e) => e.type === 'Dial')).toEqual([]); // backs off (5 s, 10 s, …)
    lab.tick(5000);
    expect(lab.take().filter((e) => e.type === 'Dial')).toHaveLength(1);
  });

  it('closes a peer that sends PEX more than six times a minute', () => {
    const lab = new Lab();
    lab.connect('10.0.0.5:6000', true);
    lab.extHandshake('10.0.0.5:6000', { m: new Map([['ut_pex', 4]]) });
    lab.take();
    for (let i = 0; i < 7; i++)
      lab.peer('10.0.0.5:6000', {
        type: 'PeerSentExtended',
        message: { name: 'ut_pex', message: { added: [], dropped: [] } },
      });
    expect(lab.toPeer('10.0.0.5:6000').at(-1)).toMatchObject({ type: 'Close' });
  });

  it('a private torrent neither tells nor learns', () => {
    const lab = new Lab({ private: true });
    lab.connect('10.0.0.2:5000', true);
    lab.connect('10.0.0.5:6000', true);
    lab.extHandshake('10.0.0.5:6000', { m: new Map([['ut_pex', 4]]) });
    lab.peer('10.0.0.5:6000', {
      type: 'PeerSentExtended',
      message: {
        name: 'ut_pex',
        message: { added: [{ ip: '10.7.7.7', port: 7777, flags: 0 }], dropped: [] },
      },
    });
    lab.tick(1000);
    expect(
      lab
        .take()
        .filter((e) => e.type === 'Dial' || (e.type === 'ToPeer' && e.command.type === 'SendExtended')),
    ).toEqual([]);
  });
});
