/**
 * A torrent's start-up check: what is already on disk, trusted from the resume file where its files are
 * unchanged, hashed (only those pieces, on every core) where they changed. A seed without `verify` hashes
 * nothing now: its pieces are served after a hash on first read (lazy verification).
 *
 * Owns: the plan (src/core/resume-data.ts decides), running the re-hash on the engine's pool and the
 * check's events (`ResumeLoaded`, `CheckProgress`, `PiecesChecked`). Does not own: applying the result
 * (the torrent marks the pieces) or the files (opened by the torrent's storage before this runs).
 */
import { hashFiles } from './create-actor';
import { CurrentFile, planCheck } from '../core/resume-data';
import type { EventInput } from '../events/engine-event';
import { Metainfo, pieceHash } from '../protocol/metainfo';
import type { PieceStorage } from '../storage/piece-storage';
import { readResume } from '../storage/resume-file';
import type { HashPool } from '../streams/hash-pool';

export interface CheckResult {
  /** Verified: trusted from the resume file or hashed correctly now. */
  have: number[];
  /** On a seed's disk, not hashed yet (hashed on first read). */
  unchecked: number[];
}

export async function checkExisting(o: {
  meta: Metainfo;
  storage: PieceStorage;
  pool: HashPool;
  mode: 'seed' | 'leech';
  verify: boolean;
  resumeFile: string | false;
  /** Sizes and mtimes taken before the files were opened (opening may extend a short file). */
  before: (CurrentFile | null)[];
  clock: () => number;
  emit: (e: EventInput) => void;
}): Promise<CheckResult> {
  const m = o.meta;
  const loaded = o.resumeFile
    ? await readResume(o.resumeFile, {
        infoHashHex: m.infoHashHex,
        pieceLength: m.pieceLength,
        pieceCount: m.pieceCount,
        fileCount: m.files.length,
      })
    : ({ ok: false, reason: 'resume disabled' } as const);
  const record = loaded.ok ? loaded.record : undefined;
  const sizesOk = m.files.every((f, i) => o.before[i]?.size === f.length);
  const lazy = o.mode === 'seed' && !o.verify && sizesOk;
  // A seed whose files have the wrong size re-checks everything, as it always did.
  const force = o.verify || (o.mode === 'seed' && !sizesOk);
  const plan = planCheck(m, record, o.before, force);
  const have = [...plan.trusted];
  o.emit({
    category: 'storage',
    type: 'ResumeLoaded',
    torrent: m.infoHashHex,
    resume: loaded.ok ? 'ok' : loaded.reason,
    trusted: plan.trusted.length,
    recheck: lazy ? 0 : plan.recheck.length,
    changedFiles: plan.changedFiles.map((i) => o.storage.paths[i]),
  });
  if (lazy) {
    const trusted = new Set(have);
    const unchecked: number[] = [];
    for (let i = 0; i < m.pieceCount; i++) if (!trusted.has(i)) unchecked.push(i);
    return { have, unchecked };
  }
  if (plan.recheck.length === 0) return { have, unchecked: [] };
  const started = o.clock();
  const hashes = await hashFiles({
    layout: o.storage.layout(),
    total: m.length,
    pieceLength: m.pieceLength,
    pool: o.pool,
    pieces: plan.recheck,
    onEvent: (e) => {
      if (e.type === 'PiecesHashed')
        o.emit({
          category: 'piece',
          type: 'CheckProgress',
          level: 'debug',
          torrent: m.infoHashHex,
          done: e.done,
          pieces: e.pieces,
          bytes: e.bytes,
        });
    },
  });
  plan.recheck.forEach((index, k) => {
    if (hashes.subarray(k * 20, k * 20 + 20).equals(pieceHash(m, index))) have.push(index);
  });
  o.emit({
    category: 'piece',
    type: 'PiecesChecked',
    torrent: m.infoHashHex,
    ms: o.clock() - started,
    checked: plan.recheck.length,
    have: have.length,
  });
  return { have, unchecked: [] };
}
