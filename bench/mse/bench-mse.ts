/**
 * bench:mse — what MSE costs: RC4 alone (Node's OpenSSL RC4 under --openssl-legacy-provider vs our
 * TypeScript RC4), the handshake, and a loopback byte stream between two processes in four modes:
 *
 *   plain       a bare socket (the reference)
 *   plaintext   MSE handshake, then plaintext (header-only encryption)
 *   rc4-js      RC4 throughout, TypeScript cipher (what Node 20 gets by default)
 *   rc4-native  RC4 throughout, OpenSSL's cipher (both processes run with --openssl-legacy-provider)
 *
 * The sender writes piece-like frames (13-byte header + 16 KiB block, corked) with backpressure; the
 * receiver counts bytes. Throughput is the receiver's, first byte to last; CPU is per GiB moved, each
 * side. Medians of BENCH_RUNS (default 3) runs, modes alternating; the ratios against plain in the same
 * run are the figures to compare. Prints a markdown table; it does not write BENCHMARKS.md.
 *
 *   npm run bench:mse
 *   BENCH_SIZE_MIB=256 BENCH_RUNS=5 npm run bench:mse
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { median } from '../support/measure';
import { MseInitiator } from '../../src/protocol/mse-initiator';
import { MseResponder } from '../../src/protocol/mse-responder';
import { req2Hash } from '../../src/protocol/mse-crypto';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CIPHER_MIB = Number(process.env.BENCH_CIPHER_MIB ?? 512);
const WORKER = path.join(__dirname, 'mse-worker.ts');
const LEGACY = '--openssl-legacy-provider';

interface Line {
  [k: string]: unknown;
}

/** Starts a worker; resolves lines as it prints them. */
function worker(args: string[], legacy: boolean) {
  const flags = [...(legacy ? [LEGACY] : []), '-r', 'ts-node/register/transpile-only'];
  const child = spawn(process.execPath, [...flags, WORKER, ...args], {
    cwd: path.resolve(__dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Line);
      buf = buf.slice(nl + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const exited = once(child, 'exit');
  return {
    async line(): Promise<Line> {
      while (lines.length === 0) {
        if (child.exitCode !== null) throw new Error(`worker ${args.join(' ')} exited (${child.exitCode})`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
      }
      return lines.shift() as Line;
    },
    exited,
  };
}

type Mode = 'plain' | 'plaintext' | 'rc4-js' | 'rc4-native';
const MODES: Mode[] = ['plain', 'plaintext', 'rc4-js', 'rc4-native'];

async function transfer(mode: Mode) {
  const legacy = mode === 'rc4-native';
  const wire = mode.startsWith('rc4') ? 'rc4' : mode;
  const recv = worker(['recv', wire], legacy);
  const { port } = (await recv.line()) as { port: number };
  const send = worker(['send', wire, String(port), String(SIZE_MIB)], legacy);
  const [s, r] = await Promise.all([send.line(), recv.line()]);
  await Promise.all([send.exited, recv.exited]);
  const gib = (r.bytes as number) / 2 ** 30;
  if (mode.startsWith('rc4') && r.implementation !== mode.slice(4))
    throw new Error(`${mode}: receiver used ${String(r.implementation)}`);
  return { mbps: r.mbps as number, sendCpu: (s.cpu as number) / gib, recvCpu: (r.cpu as number) / gib };
}

function handshakeMs(): number {
  const infoHash = randomBytes(20);
  const key = req2Hash(infoHash);
  const n = 200;
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const a = new MseInitiator({ infoHash, ciphers: ['rc4', 'plaintext'], initialPayload: Buffer.alloc(68) });
    const b = new MseResponder({ lookup: (h) => (h.equals(key) ? infoHash : undefined), ciphers: ['rc4'] });
    const [s2] = b.push(a.start()).send;
    const [s3] = a.push(s2).send;
    const [s4] = b.push(s3).send;
    if (!a.push(s4).done) throw new Error('handshake did not finish');
  }
  return Number(process.hrtime.bigint() - t) / 1e6 / n;
}

async function main(): Promise<void> {
  const fmt = (v: number, d = 0) => v.toFixed(d);
  console.log(`bench:mse — ${SIZE_MIB} MiB per transfer, ${RUNS} run(s), Node ${process.version}\n`);

  const js = await worker(['cipher', 'js', String(CIPHER_MIB)], false).line();
  const native = await worker(['cipher', 'native', String(CIPHER_MIB)], true).line();
  const jsM = js.mbps as Record<string, number>;
  const natM = native.mbps as Record<string, number>;
  console.log(
    `Native RC4 without the legacy provider: ${js.native ? 'available' : 'refused (TypeScript fallback)'}`,
  );
  console.log(`Native and TypeScript RC4 agree: ${String(native.agrees)}\n`);
  console.log('| RC4 (16 KiB blocks)                  |  MB/s |');
  console.log('| ------------------------------------ | ----: |');
  console.log(`| OpenSSL (--openssl-legacy-provider)  | ${fmt(natM.update).padStart(5)} |`);
  console.log(`| TypeScript, into a new buffer        | ${fmt(jsM.update).padStart(5)} |`);
  console.log(`| TypeScript, in place (received data) | ${fmt(jsM.owned).padStart(5)} |`);
  console.log(
    `\nHandshake, both sides in one process (4 modular exponentiations): ${fmt(handshakeMs(), 2)} ms\n`,
  );

  const results = new Map<Mode, { mbps: number[]; sendCpu: number[]; recvCpu: number[] }>();
  for (const m of MODES) results.set(m, { mbps: [], sendCpu: [], recvCpu: [] });
  for (let run = 0; run < RUNS; run++) {
    for (const m of MODES) {
      const r = await transfer(m);
      const acc = results.get(m) as { mbps: number[]; sendCpu: number[]; recvCpu: number[] };
      acc.mbps.push(r.mbps);
      acc.sendCpu.push(r.sendCpu);
      acc.recvCpu.push(r.recvCpu);
      process.stderr.write(`run ${run + 1} ${m}: ${fmt(r.mbps)} MB/s\n`);
    }
  }
  const plain = median((results.get('plain') as { mbps: number[] }).mbps);
  console.log('| loopback stream | MB/s | × plain | sender CPU s/GiB | receiver CPU s/GiB |');
  console.log('| --------------- | ---: | ------: | ---------------: | -----------------: |');
  for (const m of MODES) {
    const r = results.get(m) as { mbps: number[]; sendCpu: number[]; recvCpu: number[] };
    const mb = median(r.mbps);
    console.log(
      `| ${m.padEnd(15)} | ${fmt(mb).padStart(4)} | ${fmt(mb / plain, 2).padStart(7)} | ` +
        `${fmt(median(r.sendCpu), 2).padStart(16)} | ${fmt(median(r.recvCpu), 2).padStart(18)} |`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
