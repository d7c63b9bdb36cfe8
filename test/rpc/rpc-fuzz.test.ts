/**
 * Fuzzing the RPC over HTTP (bounded runs; `npm run fuzz` is for long ones): random bytes, random JSON,
 * and random arguments for every method, built from the argument names the methods read. Whatever
 * arrives, the answer is HTTP 200 with a `result` string, an `arguments` object, the tag echoed, JSON
 * integers where Transmission wants integers, and the server keeps serving.
 */
import fc from 'fast-check';
import { RpcServer, createRpcServer } from '../../src/rpc/rpc-server';
import { METHOD_NAMES } from '../../src/rpc/rpc-methods';
import { MemoryBackend, sampleTorrent } from './memory-backend';
import { RpcClient, parseReply } from './rpc-client';

const RUNS = Number(process.env.RXTORRENT_FUZZ_RUNS ?? 150);
/**
 * A fixed seed in `npm test` (repeatable); a fresh one for long runs (fast-check prints it on failure,
 * and `RXTORRENT_FUZZ_SEED` replays it).
 */
const SEED = process.env.RXTORRENT_FUZZ_SEED
  ? { seed: Number(process.env.RXTORRENT_FUZZ_SEED) }
  : process.env.RXTORRENT_FUZZ_RUNS
    ? {}
    : { seed: 42 };

let backend: MemoryBackend;
let server: RpcServer;
let rpc: RpcClient;

beforeAll(async () => {
  backend = new MemoryBackend();
  server = createRpcServer({ backend, port: 0, commandTimeoutMs: 200, addTimeoutMs: 200 });
  rpc = new RpcClient((await server.start()).port);
  await rpc.post('{}'); // learn the session id
});
afterAll(async () => server.stop());

beforeEach(() => {
  backend.views.clear();
  backend.put({ name: 'one', state: 'downloading', haveValid: 10, downRate: 3.3 });
  backend.put({ name: 'two', state: 'stopped' });
});

const ARG_NAMES = [
  'ids', 'fields', 'format', 'metainfo', 'filename', 'paused', 'download-dir', 'delete-local-data',
  'downloadLimit', 'downloadLimited', 'uploadLimit', 'uploadLimited', 'peer-limit', 'location', 'files-unwanted',
  'trackerList', 'speed-limit-down', 'speed-limit-down-enabled', 'speed-limit-up', 'speed-limit-up-enabled',
  'encryption', 'dht-enabled', 'pex-enabled', 'peer-limit-global', 'peer-limit-per-torrent', '__proto__', 'constructor',
]; // prettier-ignore

const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    1,
    2,
    -1,
    0,
    1.5,
    2 ** 53,
    -(2 ** 60),
    'recently-active',
    'one',
    'f'.repeat(40),
    true,
    null,
    [],
    {},
  ),
  fc.array(
    fc.oneof(
      fc.integer({ min: -3, max: 5 }),
      fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b).toString('hex')),
    ),
    {
      maxLength: 4,
    },
  ),
  fc.constant(sampleTorrent('fuzz.bin').toString('base64')),
  fc.base64String({ maxLength: 200 }),
  fc.constant(['id', 'name', 'status', 'eta', 'peers', 'trackerStats', 'pieces', 'files', 'uploadRatio']),
);

const args = fc.dictionary(fc.oneof(fc.constantFrom(...ARG_NAMES), fc.string({ maxLength: 12 })), oddValue, {
  maxKeys: 6,
});

const envelope = fc.record(
  {
    method: fc.oneof(
      fc.constantFrom(...METHOD_NAMES, 'torrent-reannounce'),
      fc.string({ maxLength: 20 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    arguments: fc.oneof(args, fc.jsonValue({ maxDepth: 2 })),
    tag: fc.oneof(fc.integer(), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
);

/** Integers where transmission-remote reads integers, whatever the request was. */
function checkIntegers(reply: { arguments: Record<string, unknown> }): void {
  const torrents = reply.arguments.torrents;
  if (!Array.isArray(torrents)) return;
  for (const t of torrents) {
    if (!t || typeof t !== 'object' || Array.isArray(t)) continue;
    for (const k of ['id', 'status', 'eta', 'rateDownload', 'leftUntilDone', 'sizeWhenDone']) {
      if (k in t) expect(Number.isInteger((t as Record<string, unknown>)[k])).toBe(true);
    }
  }
}

it('answers any envelope with a well-formed reply', async () => {
  await fc.assert(
    fc.asyncProperty(envelope, async (env) => {
      const res = await rpc.post(JSON.stringify(env));
      const reply = parseReply(res);
      if (typeof env.tag === 'number' && Number.isSafeInteger(env.tag))
        expect(reply.tag === env.tag).toBe(true); // (-0 travels as 0)
      else expect(reply.tag).toBeUndefined();
      checkIntegers(reply);
      expect(res.body).not.toMatch(/NaN|Infinity/);
    }),
    { numRuns: RUNS, ...SEED },
  );
});

it('answers any bytes with a well-formed reply', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
      ),
      async (bytes) => {
        const reply = parseReply(await rpc.post(Buffer.from(bytes).toString('latin1')));
        expect(reply.result).not.toBe('success');
      },
    ),
    { numRuns: RUNS, ...SEED },
  );
});

it('still serves after the fuzzing', async () => {
  const reply = await rpc.call('torrent-get', { fields: ['id', 'name'] }, 3);
  expect(reply).toMatchObject({ result: 'success', tag: 3 });
});
