// Lint: the rules that catch real bugs here (floating promises lose acks; misused promises
// swallow errors), on top of the recommended sets. Formatting is not linted.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    // Production code never imports test support: `@cosigner/party/testing` reaches behind the
    // enclave boundary, `@cosigner/platform/testing` starts servers (docs/architecture.md).
    files: ['packages/*/src/**/*.ts', 'services/*/src/**/*.ts', 'examples/*/src/**/*.ts'],
    ignores: ['**/src/testing.ts', '**/src/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@cosigner/*/testing', '@cosigner/*/testing/*'], message: 'test support stays out of production code' }] }],
    },
  },
);
