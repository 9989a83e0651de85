// ESLint: typescript-eslint's strict type-checked rules over server, client,
// scripts and tests. Rules switched off or tuned below say why.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'dist/', 'client/dist/', 'bench-results/', 'test-artifacts/', 'scripts/worker/', '**/*.d.ts'],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs', 'scripts/bench/browser/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // With noUncheckedIndexedAccess, `!` is the explicit "this index exists" and reads better than a throw per lookup.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers and booleans in log and error messages are fine.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => void x()` and `(e) => res.end()` shorthands are idiomatic in handlers.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidOperator: true }],
      // Express and socket.io take async handlers; their promises are awaited by our own error handling.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      // The server re-checks its state (closed, left, replaced) after every await; TypeScript's
      // narrowing does not see other code change it meanwhile, so this rule flags exactly the
      // checks that keep a disconnect mid-request from leaking.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // In-memory and Redis implementations share async interfaces; the in-memory one has nothing to await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The media path knows no front door: errors and notices are mapped to wire codes in signaling/ (and http/).
    files: ['server/{rooms,sources,media,viewers,recorder,ffmpeg,hls,cluster,lib}/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/signaling/*', '**/http/*'], message: 'domain code must not depend on a front door' }] }],
    },
  },
  {
    // Wire contracts are imported by the browser too: nothing server-side may leak in.
    files: ['server/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*'], message: 'contracts import only other contracts, zod and types' }] }],
    },
  },
  {
    // Plain JavaScript build and browser-bench scripts: no type information for these rules.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  { files: ['scripts/**/*.mjs', '*.js'], languageOptions: { globals: globals.node } },
  { files: ['scripts/bench/browser/*.js'], languageOptions: { globals: globals.browser } },
);
