import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // LSD off for every test and the processes they start (tests in their own network namespaces turn it on).
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Integration tests spawn real processes and clients; give them room, but each has its own bounds.
  testTimeout: 60_000,
};

export default config;
