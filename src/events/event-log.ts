/**
 * The observable event log: every actor's events funnel into one stream that the CLI can print (-v)
 * or write as JSON lines (--events file.jsonl).
 *
 * Owns: stamping, fan-out to sinks, and a bounded write buffer for the file sink that counts what it
 * had to drop (and says so with an `EventsDropped` event) instead of growing without bound.
 * Does not own: deciding what is worth logging (actors emit; the log carries).
 */
import * as fs from 'node:fs';
// From their own modules, not rxjs's index (see src/actors/actor.ts).
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { EngineEvent, EventInput, toJsonLine, toTextLine } from './engine-event';

export class EventLog {
  private readonly subject = new Subject<EngineEvent>();
  readonly events$: Observable<EngineEvent> = this.subject.asObservable();

  constructor(private readonly clock: () => Date = () => new Date()) {}

  /** Whether any sink listens (producers of high-rate events can skip building them). */
  observed(): boolean {
    return this.subject.observed;
  }

  emit(input: EventInput): void {
    if (!this.subject.observed) return;
    this.subject.next({ ...input, ts: input.ts ?? this.clock().toISOString() } as EngineEvent);
  }

  /** Feed another stream of events into the log (an actor's `events$`). */
  attach(events$: Observable<EventInput>): () => void {
    const sub = events$.subscribe({ next: (e) => this.emit(e) });
    return () => sub.unsubscribe();
  }

  complete(): void {
    this.subject.complete();
  }
}

/** Print every event to a text stream as `ISO category type key=value` lines. */
export function printEvents(
  log: EventLog,
  out: { write(text: string): unknown },
  minLevel: 'debug' | 'info' = 'info',
): () => void {
  const sub = log.events$.subscribe((e) => {
    if (minLevel === 'info' && e.level === 'debug') return;
    out.write(toTextLine(e) + '\n');
  });
  return () => sub.unsubscribe();
}

export interface JsonlSink {
  /** Flush what is buffered and close the file. */
  close(): Promise<void>;
  dropped(): number;
}

/**
 * Write every event as a JSON line. Writes are asynchronous; at most `maxBuffered` lines wait for the
 * disk, past that lines are dropped and counted, and one `EventsDropped` line reports the count.
 */
export function writeJsonl(log: EventLog, path: string, maxBuffered = 10_000): JsonlSink {
  const stream = fs.createWriteStream(path, { flags: 'a', mode: 0o600 });
  let pending = 0;
  let dropped = 0;
  let reportedDrops = 0;
  let failed: Error | null = null;
  stream.on('error', (err) => {
    failed = err;
  });
  const write = (line: string): void => {
    pending++;
    stream.write(line + '\n', () => {
      pending--;
    });
  };
  const reportDrops = (ts: string): void => {
    if (dropped === reportedDrops) return;
    write(
      toJsonLine({
        ts,
        category: 'engine',
        type: 'EventsDropped',
        level: 'warn',
        count: dropped - reportedDrops,
      }),
    );
    reportedDrops = dropped;
  };
  const sub = log.events$.subscribe((e) => {
    if (failed) return;
    if (pending >= maxBuffered) {
      dropped++;
      return;
    }
    reportDrops(e.ts);
    write(toJsonLine(e));
  });
  return {
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        sub.unsubscribe();
        if (failed) return resolve();
        reportDrops(new Date().toISOString());
        stream.end(() => resolve());
      }),
  };
}
