/**
 * The seeder → leecher pairs bench:transfer runs (ids for BENCH_PAIRS), and the one-seeder-to-three
 * swarms. Which cipher each pair ends up with (README, "Encryption"): tolerated dials plain and selects
 * plaintext when offered; preferred/required dial encrypted and select RC4 when offered; libtorrent's
 * default responder selects plaintext; aria2c dials encrypted offering both.
 */
export type SeederKind = 'ours' | 'lt';
export type LeecherKind = 'ours' | 'aria2c' | 'lt';
/** How a side encrypts: our `--encryption` policy, or libtorrent's defaults / forced RC4. */
export type OurPolicy = 'preferred' | 'required' | 'tolerated';
export type LtEncryption = 'default' | 'rc4';

export interface Pair {
  id: string;
  label: string;
  seeder: SeederKind;
  leecher: LeecherKind;
  /** Our side's policy (seeder / leecher when ours); libtorrent's encryption (when it is libtorrent). */
  seedEnc: OurPolicy | LtEncryption;
  leechEnc: OurPolicy | LtEncryption | 'aria2c';
  /** Run our processes as `node <flags> bin/rxtorrent.js` instead of through the bin's shebang. */
  nodeFlags?: string[];
  /** Leechers started together against the one seeder (default 1); the run ends when all are done. */
  leechers?: number;
}

const plain = (
  id: string,
  label: string,
  seeder: SeederKind,
  leecher: LeecherKind,
  leechers?: number,
): Pair => ({
  id,
  label,
  seeder,
  leecher,
  seedEnc: seeder === 'ours' ? 'tolerated' : 'default',
  leechEnc: leecher === 'ours' ? 'tolerated' : leecher === 'lt' ? 'default' : 'aria2c',
  leechers,
});

export const ALL_PAIRS: Pair[] = [
  plain('ours-ours', 'rxtorrent → rxtorrent, plain', 'ours', 'ours'),
  plain('lt-lt', 'libtorrent → libtorrent, plain', 'lt', 'lt'),
  plain('lt-ours', 'libtorrent → rxtorrent, plain', 'lt', 'ours'),
  plain('ours-lt', 'rxtorrent → libtorrent, plain', 'ours', 'lt'),
  plain('ours-aria2c', 'rxtorrent → aria2c, MSE header + plaintext', 'ours', 'aria2c'),
  plain('lt-aria2c', 'libtorrent → aria2c, MSE header + plaintext', 'lt', 'aria2c'),
  plain('ours-ours-x3', 'rxtorrent → 3 × rxtorrent started together, plain', 'ours', 'ours', 3),
  plain('lt-lt-x3', 'libtorrent → 3 × libtorrent started together, plain', 'lt', 'lt', 3),
  {
    id: 'ours-ours-header',
    label: 'rxtorrent → rxtorrent, MSE header + plaintext',
    seeder: 'ours',
    leecher: 'ours',
    seedEnc: 'tolerated',
    leechEnc: 'preferred',
  },
  {
    id: 'ours-ours-rc4',
    label: 'rxtorrent → rxtorrent, RC4 (OpenSSL)',
    seeder: 'ours',
    leecher: 'ours',
    seedEnc: 'preferred',
    leechEnc: 'required',
  },
  {
    id: 'ours-ours-rc4-ts',
    label: 'rxtorrent → rxtorrent, RC4 in TypeScript (node without --openssl-legacy-provider)',
    seeder: 'ours',
    leecher: 'ours',
    seedEnc: 'preferred',
    leechEnc: 'required',
    nodeFlags: ['--max-semi-space-size=2'],
  },
  {
    id: 'lt-ours-rc4',
    label: 'libtorrent (forced RC4) → rxtorrent, RC4',
    seeder: 'lt',
    leecher: 'ours',
    seedEnc: 'rc4',
    leechEnc: 'preferred',
  },
  {
    id: 'lt-lt-rc4',
    label: 'libtorrent → libtorrent, both forced RC4',
    seeder: 'lt',
    leecher: 'lt',
    seedEnc: 'rc4',
    leechEnc: 'rc4',
  },
];

/** The ratios the report prints (a / b by wall time), with the target where it sets one. */
export const RATIOS: Array<[string, string, string]> = [
  ['lt-ours', 'lt-lt', 'issue 14 (1): our leecher vs libtorrent’s, same libtorrent seeder (target ≥ 1.00)'],
  ['ours-ours', 'lt-lt', 'issue 14 (2): rxtorrent → rxtorrent vs libtorrent → libtorrent (target ≥ 1.00)'],
  ['ours-ours-x3', 'lt-lt-x3', 'issue 14 (2): one seeder to three leechers, all done (target ≥ 1.00)'],
  [
    'ours-aria2c',
    'lt-aria2c',
    'issue 14 (5): our seeder vs libtorrent’s, same aria2c leecher (target ≥ 1.00)',
  ],
  ['ours-lt', 'lt-lt', 'issue 14 (5): our seeder vs libtorrent’s, same libtorrent leecher (target ≥ 1.00)'],
  ['lt-ours', 'lt-aria2c', 'our leecher vs aria2c, same libtorrent seeder (target ≥ 1.00)'],
  ['ours-ours-rc4', 'ours-ours', 'RC4 vs plain, rxtorrent → rxtorrent (target ≥ 0.80)'],
  ['ours-ours-rc4-ts', 'ours-ours-rc4', 'TypeScript RC4 vs OpenSSL RC4, rxtorrent → rxtorrent'],
  ['ours-ours-header', 'ours-ours', 'MSE header + plaintext vs plain, rxtorrent → rxtorrent (target ≥ 0.95)'],
  ['lt-ours-rc4', 'lt-lt-rc4', 'our leecher vs libtorrent, same libtorrent seeder, RC4'],
];
