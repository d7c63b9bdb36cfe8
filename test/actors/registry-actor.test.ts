import { firstValueFrom, toArray } from 'rxjs';
import { createRegistryActor } from '../../src/actors/registry-actor';
import type { AnnounceRequest } from '../../src/protocol/tracker-codec';

const req = (n: number, over: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
  infoHash: Buffer.alloc(20, 1),
  peerId: Buffer.alloc(20, n),
  ip: '127.0.0.1',
  port: 6000 + n,
  uploaded: 0,
  downloaded: 0,
  left: 10,
  event: 'started',
  numwant: 50,
  compact: true,
  noPeerId: false,
  key: undefined,
  ...over,
});

function manualTimer() {
  const timer = { period: 0, fire: () => undefined as void, cancelled: false };
  const every = (ms: number, fn: () => void) => {
    timer.period = ms;
    timer.fire = fn;
    return () => {
      timer.cancelled = true;
    };
  };
  return { timer, every };
}

describe('registry actor', () => {
  it('expires silent peers on its timer, using the injected clock', async () => {
    const now = { t: 0 };
    const { timer, every } = manualTimer();
    const r = createRegistryActor({ config: { interval: 10, grace: 5 }, clock: () => now.t, every });
    expect(timer.period).toBe(1500); // a tenth of interval + grace
    const events = firstValueFrom(r.events$.pipe(toArray()));
    await r.announce(req(1));
    now.t = 15_001;
    timer.fire();
    expect((await r.stats()).peers).toBe(0);
    await r.close();
    expect(timer.cancelled).toBe(true);
    expect((await events).map((e) => e.type)).toEqual(['PeerJoined', 'PeerExpired']);
  });

  it('state$ replays the current state and follows every change', async () => {
    const { every } = manualTimer();
    const r = createRegistryActor({ every });
    const seen: number[] = [];
    const sub = r.state$.subscribe((s) => seen.push(s.store.peers));
    await r.announce(req(1));
    await r.announce(req(2));
    await r.announce(req(1, { event: 'stopped' }));
    sub.unsubscribe();
    expect(seen).toEqual([0, 1, 2, 1]);
    expect(r.snapshot().store.peers).toBe(1);
    await r.close();
  });

  it('refuses announces after close', async () => {
    const { every } = manualTimer();
    const r = createRegistryActor({ every });
    await r.close();
    await expect(r.announce(req(1))).rejects.toThrow(/stopped/);
  });
});
