/** Three projects so each tier can run alone: unit (pure), workflow (real Temporal, stubbed activities), integration (the lab). */
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};
module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    {
      ...base,
      displayName: 'workflow',
      testMatch: ['<rootDir>/tests/workflow/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/tests/setup/workflowTimeout.ts'],
    },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/tests/integration/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/tests/setup/integrationTimeout.ts'],
    },
  ],
};
