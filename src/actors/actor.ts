/**
 * The actor runtime every engine part uses.
 *
 * Owns: one typed inbox (a Subject), folding messages through a pure transition, performing the
 * effects it returns, and exposing `events$`, `state$` and `status$`. Does not own: any domain logic
 * (that lives in src/core as pure transitions) or any I/O (effects are performed by the caller's
 * `perform`, which is where sockets and files are touched).
 *
 * Lifecycle: `active` until `stop()` (→ `stopped`) or until a transition or effect throws (→ `error`,
 * reported on `status$` and to `onError`, the parent's hook). Messages sent after that are ignored.
 *
 * @example
 *   const counter = createActor({
 *     name: 'counter',
 *     initial: 0,
 *     transition: (n: number, m: { type: 'Add'; by: number }) => ({ state: n + m.by, events: [{ type: 'Added', total: n + m.by }] }),
 *   });
 *   counter.events$.subscribe((e) => console.log(e.total)); // 2
 *   counter.send({ type: 'Add', by: 2 });
 */
// The three classes from their own modules, not rxjs's index: the index loads all 223 of rxjs's files
// (~0.3 G instructions, more than Node's own start), and `create` needs only these. Same module
// instances as the index re-exports, so they mix freely with code that imports 'rxjs'.
import { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import type { Step, Transition } from '../core/step';

export type { Step, Transition };

export type ActorStatus = 'active' | 'stopped' | 'error';

export interface ActorRef<In, Out, S> {
  readonly name: string;
  send(message: In): void;
  readonly events$: Observable<Out>;
  readonly state$: Observable<S>;
  readonly status$: Observable<ActorStatus>;
  snapshot(): S;
  status(): ActorStatus;
  stop(): void;
}

export interface ActorOptions<S, In, Eff, Out> {
  name: string;
  initial: S;
  transition: Transition<S, In, Eff, Out>;
  /** Performs one effect; may send messages back through `self`. */
  perform?: (effect: Eff, self: ActorRef<In, Out, S>) => void;
  /** Called once when the actor fails (the parent's supervision hook). */
  onError?: (error: unknown, self: ActorRef<In, Out, S>) => void;
}

export function createActor<S, In, Out = never, Eff = never>(
  opts: ActorOptions<S, In, Eff, Out>,
): ActorRef<In, Out, S> {
  const inbox = new Subject<In>();
  const events = new Subject<Out>();
  const state = new BehaviorSubject<S>(opts.initial);
  const status = new BehaviorSubject<ActorStatus>('active');
  // Messages sent while a step runs (from effects or observers) are queued, so transitions never nest.
  const queue: In[] = [];
  let running = false;

  const finish = (next: ActorStatus): void => {
    if (status.value !== 'active') return;
    status.next(next);
    inbox.complete();
    events.complete();
    state.complete();
    status.complete();
  };

  const ref: ActorRef<In, Out, S> = {
    name: opts.name,
    send: (m) => {
      if (status.value === 'active') inbox.next(m);
    },
    events$: events.asObservable(),
    state$: state.asObservable(),
    status$: status.asObservable(),
    snapshot: () => state.value,
    status: () => status.value,
    stop: () => finish('stopped'),
  };

  const step = (m: In): void => {
    const { state: next, effects, events: out } = opts.transition(state.value, m);
    if (next !== state.value) state.next(next);
    // Events first: an effect may stop the actor, and what this step did must still be reported.
    if (out) for (const e of out) events.next(e);
    if (effects && opts.perform) for (const eff of effects) opts.perform(eff, ref);
  };

  inbox.subscribe((m) => {
    queue.push(m);
    if (running) return;
    running = true;
    try {
      while (queue.length > 0 && status.value === 'active') step(queue.shift() as In);
    } catch (err) {
      queue.length = 0;
      finish('error');
      opts.onError?.(err, ref);
    } finally {
      running = false;
    }
  });

  return ref;
}
