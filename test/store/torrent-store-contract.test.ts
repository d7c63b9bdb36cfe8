/**
 * The torrent-store contract, run against every store: the local folder, and Dropbox through the real
 * SDK talking HTTP to the loopback emulator. A store passes if it publishes, fetches, lists (across
 * several pages), overwrites, removes, reports missing names, and lets nobody use a corrupt .torrent.
 */
import { fetchTorrent } from '../../src/store/fetch-torrent';
import { StoreError } from '../../src/store/torrent-store';
import { StoreHarness, dropboxHarness, localHarness, torrentBytes } from './store-fixtures';

interface Harness extends StoreHarness {
  /** How many list pages the last `list()` needed (1 for stores without pages). */
  pagesSeen(): number;
}

const harnesses: [string, () => Promise<Harness>][] = [
  ['local folder', async () => ({ ...localHarness(), pagesSeen: () => 1 })],
  [
    'dropbox (SDK → loopback emulator)',
    async () => {
      const h = await dropboxHarness({ pageSize: 2 });
      let before = 0;
      const list = h.store.list.bind(h.store);
      h.store.list = async () => {
        before = h.emu.count('files/list_folder/continue');
        return list();
      };
      return { ...h, pagesSeen: () => h.emu.count('files/list_folder/continue') - before + 1 };
    },
  ],
];

describe.each(harnesses)('torrent store contract: %s', (_label, make) => {
  let h: Harness;
  beforeEach(async () => {
    h = await make();
  });
  afterEach(async () => h.close());

  it('lists nothing before anything is published', async () => {
    expect(await h.store.list()).toEqual([]);
  });

  it('publishes and fetches the same bytes, with or without the .torrent suffix', async () => {
    const bytes = torrentBytes('movie.mp4');
    const entry = await h.store.publish('movie.mp4.torrent', bytes);
    expect(entry).toMatchObject({ name: 'movie.mp4.torrent', size: bytes.length });
    expect(Number.isNaN(entry.modified.getTime())).toBe(false); // (fs dates come from another realm)
    expect((await h.store.fetch('movie.mp4.torrent')).equals(bytes)).toBe(true);
    expect((await h.store.fetch('movie.mp4')).equals(bytes)).toBe(true);
    const { meta } = await fetchTorrent(h.store, 'movie.mp4');
    expect(meta.name).toBe('movie.mp4');
  });

  it('lists every torrent, sorted, across more than one page', async () => {
    const names = ['e.bin', 'a.bin', 'c.bin', 'b.bin', 'd.bin'];
    for (const [i, n] of names.entries()) await h.store.publish(n, torrentBytes(n, i));
    h.plant('notes.txt', Buffer.from('not a torrent'));
    const list = await h.store.list();
    expect(list.map((e) => e.name)).toEqual(
      ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin'].map((n) => `${n}.torrent`),
    );
    for (const e of list) {
      expect(e.size).toBe(
        torrentBytes(e.name.replace('.torrent', ''), names.indexOf(e.name.replace('.torrent', ''))).length,
      );
      expect(Number.isNaN(e.modified.getTime())).toBe(false);
    }
    if (h.store.kind === 'dropbox') expect(h.pagesSeen()).toBeGreaterThan(1);
  });

  it('overwrites when the same name is published again', async () => {
    await h.store.publish('x.iso', torrentBytes('x.iso', 1));
    const second = torrentBytes('x.iso', 2);
    await h.store.publish('x.iso.torrent', second);
    expect((await h.store.fetch('x.iso')).equals(second)).toBe(true);
    expect((await h.store.list()).map((e) => e.name)).toEqual(['x.iso.torrent']);
  });

  it('removes, after which the name is not found', async () => {
    await h.store.publish('gone.bin', torrentBytes('gone.bin'));
    await h.store.remove('gone.bin');
    expect(await h.store.list()).toEqual([]);
    await expect(h.store.fetch('gone.bin')).rejects.toMatchObject({ code: 'not-found' });
  });

  it('reports a missing name as not-found, naming it', async () => {
    await h.store.publish('present.bin', torrentBytes('present.bin'));
    const err = await h.store.fetch('absent.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'not-found' });
    expect((err as Error).message).toContain('absent.bin.torrent');
    await expect(h.store.remove('absent.bin')).rejects.toMatchObject({ code: 'not-found' });
  });

  it('refuses names that carry a path', async () => {
    await expect(h.store.publish('../evil', Buffer.from('x'))).rejects.toMatchObject({ code: 'bad-name' });
    await expect(h.store.fetch('a/b')).rejects.toMatchObject({ code: 'bad-name' });
  });

  it('refuses a corrupt .torrent in the store with a clear error', async () => {
    h.plant('broken.bin.torrent', Buffer.from('d4:infod6:lengthi-5eee'));
    const err = await fetchTorrent(h.store, 'broken.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'corrupt' });
    expect((err as Error).message).toMatch(
      /broken\.bin\.torrent in the (local|dropbox) store .* is not a valid \.torrent/,
    );
  });
});
