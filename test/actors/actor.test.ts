import { createActor } from '../../src/actors/actor';

type In = { type: 'Add'; by: number } | { type: 'Boom' } | { type: 'Echo' };
type Out = { type: 'Added'; total: number };
type Eff = { type: 'EchoBack' };

const make = (onError?: (e: unknown) => void) =>
  createActor<number, In, Out, Eff>({
    name: 'counter',
    initial: 0,
    transition: (n, m) => {
      if (m.type === 'Boom') throw new Error('boom');
      if (m.type === 'Echo') return { state: n, effects: [{ type: 'EchoBack' }] };
      return { state: n + m.by, events: [{ type: 'Added', total: n + m.by }] };
    },
    perform: (_eff, self) => self.send({ type: 'Add', by: 100 }),
    onError,
  });

describe('createActor', () => {
  it('folds messages through the transition and reports events and state', () => {
    const a = make();
    const totals: number[] = [];
    const states: number[] = [];
    a.events$.subscribe((e) => totals.push(e.total));
    a.state$.subscribe((s) => states.push(s));
    a.send({ type: 'Add', by: 2 });
    a.send({ type: 'Add', by: 3 });
    expect(totals).toEqual([2, 5]);
    expect(states).toEqual([0, 2, 5]);
    expect(a.snapshot()).toBe(5);
  });

  it('queues messages sent by effects instead of nesting transitions', () => {
    const a = make();
    const totals: number[] = [];
    a.events$.subscribe((e) => totals.push(e.total));
    a.send({ type: 'Echo' });
    expect(totals).toEqual([100]);
  });

  it('moves to error, tells its parent once, and ignores later messages', () => {
    const errors: unknown[] = [];
    const a = make((e) => errors.push(e));
    const statuses: string[] = [];
    a.status$.subscribe((s) => statuses.push(s));
    a.send({ type: 'Boom' });
    a.send({ type: 'Add', by: 1 });
    expect(statuses).toEqual(['active', 'error']);
    expect(errors).toHaveLength(1);
    expect(a.snapshot()).toBe(0);
  });

  it('stops cleanly: streams complete and sends are ignored', () => {
    const a = make();
    let completed = false;
    a.events$.subscribe({ complete: () => (completed = true) });
    a.stop();
    a.send({ type: 'Add', by: 1 });
    expect(completed).toBe(true);
    expect(a.status()).toBe('stopped');
  });
});
