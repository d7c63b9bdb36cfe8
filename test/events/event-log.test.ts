import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { toTextLine } from '../../src/events/engine-event';
import { EventLog, printEvents, writeJsonl } from '../../src/events/event-log';

const fixed = () => new Date('2026-01-02T03:04:05.000Z');

describe('event log', () => {
  it('prints ISO category type key=value lines', () => {
    const log = new EventLog(fixed);
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    printEvents(log, out);
    log.emit({ category: 'piece', type: 'PieceVerified', torrent: 'ab', index: 3, note: 'two words' });
    log.emit({ category: 'block', type: 'Noise', level: 'debug' });
    expect(text).toBe('2026-01-02T03:04:05.000Z piece PieceVerified torrent=ab index=3 note="two words"\n');
  });

  it('never shows credentials, in text or JSON', () => {
    const line = toTextLine({
      ts: 't',
      category: 'store',
      type: 'X',
      accessToken: 'sl.SECRET',
      nested: { refresh_token: 'r1' },
    });
    expect(line).not.toContain('SECRET');
    expect(line).not.toContain('r1');
    expect(line).toContain('[redacted]');
  });

  it('writes JSON lines with bigints and buffers made JSON-safe', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-ev-')), 'e.jsonl');
    const log = new EventLog(fixed);
    const sink = writeJsonl(log, file);
    log.emit({ category: 'tracker', type: 'PeerAnnounced', big: 2n ** 70n, id: Buffer.from([1, 2]) });
    await sink.close();
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      ts: '2026-01-02T03:04:05.000Z',
      category: 'tracker',
      type: 'PeerAnnounced',
      big: '1180591620717411303424',
      id: '0102',
    });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('drops past its bound and reports how many it dropped', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-ev-')), 'e.jsonl');
    const log = new EventLog(fixed);
    const sink = writeJsonl(log, file, 5);
    for (let i = 0; i < 50; i++) log.emit({ category: 'block', type: 'B', i });
    expect(sink.dropped()).toBe(45);
    await sink.close();
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; count?: number });
    expect(lines.map((l) => l.type)).toEqual(['B', 'B', 'B', 'B', 'B', 'EventsDropped']);
    expect(lines[5].count).toBe(45);
  });
});
