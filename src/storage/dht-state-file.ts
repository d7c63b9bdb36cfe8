/**
 * The DHT state file: our node id and the routing table's nodes, so a restart rejoins the DHT
 * without bootstrap routers and keeps its place in the id space.
 *
 * Owns: where the file lives (`$XDG_STATE_HOME/rxtorrent/dht.json`, default
 * `~/.local/state/rxtorrent/dht.json`), its JSON form (`{ version, id, savedAt, nodes }`), reading it
 * back with every field checked, and writing it atomically (temp file + rename: a reader sees the old
 * file or the new one). Does not own: which nodes are worth saving (the routing table decides).
 *
 * @example
 *   await saveDhtState(file, { id, nodes: table.save(now) });
 *   const saved = await loadDhtState(file); // { id, nodes } | undefined when there is no file yet
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SavedNode } from '../core/routing-table';
import { writeFileAtomic } from '../store/local-store';

export interface DhtSaved {
  id: Buffer;
  nodes: SavedNode[];
}

/** Saved at most this many nodes (the table's own bound is larger; the closest buckets are enough). */
const MAX_SAVED_NODES = 1000;
const MAX_FILE_BYTES = 1024 * 1024;

export class DhtStateError extends Error {
  constructor(file: string, detail: string) {
    super(`DHT state file ${file}: ${detail}`);
    this.name = 'DhtStateError';
  }
}

export function defaultDhtStatePath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(base, 'rxtorrent', 'dht.json');
}

/** Undefined when the file does not exist; DhtStateError when it is unreadable or malformed. */
export async function loadDhtState(file: string): Promise<DhtSaved | undefined> {
  let text: string;
  try {
    const st = await fs.stat(file);
    if (st.size > MAX_FILE_BYTES) throw new DhtStateError(file, `${st.size} bytes is too large`);
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof DhtStateError) throw err;
    throw new DhtStateError(file, (err as Error).message);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DhtStateError(file, 'not JSON');
  }
  const d = doc as { version?: unknown; id?: unknown; nodes?: unknown };
  if (!d || typeof d !== 'object' || d.version !== 1) throw new DhtStateError(file, 'unknown version');
  if (typeof d.id !== 'string' || !/^[0-9a-f]{40}$/i.test(d.id)) throw new DhtStateError(file, 'bad node id');
  if (!Array.isArray(d.nodes)) throw new DhtStateError(file, 'nodes is not a list');
  const nodes: SavedNode[] = [];
  for (const n of d.nodes.slice(0, MAX_SAVED_NODES) as Partial<SavedNode>[]) {
    // Entries are checked again when the table restores them; here only their shape.
    if (n && typeof n.id === 'string' && typeof n.ip === 'string' && typeof n.port === 'number')
      nodes.push({ id: n.id, ip: n.ip, port: n.port, verified: n.verified === true });
  }
  return { id: Buffer.from(d.id, 'hex'), nodes };
}

export async function saveDhtState(file: string, state: DhtSaved, now = new Date()): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const doc = {
    version: 1,
    id: state.id.toString('hex'),
    savedAt: now.toISOString(),
    nodes: state.nodes.slice(0, MAX_SAVED_NODES),
  };
  await writeFileAtomic(file, Buffer.from(JSON.stringify(doc)));
}

/**
 * Claims `file` for this engine through `file.lock` (our pid, created exclusively): two nodes with one
 * id would confuse the DHT, so while a live process (this one included) holds it, the answer is
 * undefined and the caller runs without the file. A lock left by a process that is gone is taken over.
 * Resolves with the release function.
 */
export async function lockDhtState(
  file: string,
  pid = process.pid,
): Promise<(() => Promise<void>) | undefined> {
  const lock = `${file}.lock`;
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lock, String(pid), { flag: 'wx', mode: 0o600 });
      return async () => {
        const holder = await fs.readFile(lock, 'utf8').catch(() => '');
        if (holder === String(pid)) await fs.rm(lock, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) return undefined;
      await fs.rm(lock, { force: true }); // stale: its process is gone
    }
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
