import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // RXTORRENT_NO_DHT=1 unless a test runs its own loopback DHT.
  setupFiles: ['<rootDir>/test/support/jest-env.ts'],
  // Integration tests spawn real processes and clients; give them room, but each has its own bounds.
  testTimeout: 60_000,
};

export default config;
