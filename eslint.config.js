// Lint: the rules that catch real bugs here (floating promises lose acks; misused promises
// swallow errors), on top of the recommended sets. Formatting is not linted.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const TESTING = { group: ['@cosigner/*/testing', '@cosigner/*/testing/*'], message: 'test support stays out of production code' };
const OURS = { group: ['@cosigner/*'], message: 'packages/mpc is the protocol core: it imports nothing of ours' };
const SERVICES = {
  group: ['@cosigner/request-intake', '@cosigner/callback-dispatcher', '@cosigner/mpc-signer', '@cosigner/pairing', '@cosigner/cloud-cosigner-sim'].flatMap((p) => [p, `${p}/*`]),
  message: 'services meet on NATS and gRPC, never through imports',
};

/** One block per folder kind: a later block's rule replaces an earlier one's, so each lists all its patterns. */
function importRules() {
  const rule = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
  const notTesting = ['**/src/testing.ts', '**/src/testing/**'];
  return [
    // Production code never imports test support: `@cosigner/party/testing` reaches behind the
    // enclave boundary, `@cosigner/platform/testing` starts servers.
    { files: ['packages/*/src/**/*.ts', 'examples/*/src/**/*.ts'], ignores: notTesting, rules: rule(TESTING) },
    { files: ['services/*/src/**/*.ts'], ignores: notTesting, rules: rule(TESTING, SERVICES) },
    { files: ['packages/mpc/**/*.ts'], rules: rule(OURS) },
  ];
}

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'proto/gen/**', '.tools/**', '.data/**', '**/build/**', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // The package graph (docs/architecture.md "Packages"). scripts/check-imports.ts checks what a
  // lint rule cannot see (relative imports leaving a package, undeclared dependencies, cycles).
  ...importRules(),
);
