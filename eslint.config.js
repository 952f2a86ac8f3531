// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import stylistic from '@stylistic/eslint-plugin';

/**
 * A zone of the upper layers: files in `folders` (under src/) import nothing from the folders
 * `above` them (other than their own), nor the files that assemble the daemon.
 */
function layerZone(folders, above) {
  const forbidden = above.filter((f) => !folders.includes(f));
  return {
    files: folders.map((f) => `src/${f}/**/*.ts`),
    ignores: ['src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${[...forbidden, 'sandbox'].join('|')})/|^(\\.\\./)+(service|service-metrics|daemon|main|metrics)\\.js$`,
              message: `src/${folders.join(', src/')} ${folders.length > 1 ? 'sit' : 'sits'} below ${forbidden.map((f) => `src/${f}`).join(', ')} and the daemon's assembly (docs/internals.md, "Layers"): import only from the layers below.`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { '@stylistic': stylistic },
    rules: {
      // Prettier (npm run format) wraps code at 140; it leaves comments and strings as written.
      '@stylistic/max-len': [
        'error',
        { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error'] }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // One failure catalogue (src/failures.ts): a failure's code is named from it, never spelled out.
    files: ['src/**/*.ts'],
    ignores: ['src/sandbox/**', 'src/**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "NewExpression[callee.name=/^(ActorError|LedgerApiError|ReservationRefused)$/] > ObjectExpression > Property[key.name='code'] > :matches(Literal, TemplateLiteral, ConditionalExpression:has(> Literal), ConditionalExpression:has(> TemplateLiteral))",
          message:
            'Name the failure code from src/failures.ts (Failure.X, or familyCode for HTTP_/DB_ codes); add a new code there with its meaning.',
        },
      ],
    },
  },
  {
    // The ledger double is a witness, not a mirror: it decodes requests as Canton and Splice do
    // (src/sandbox/wire/decode), never with the client's schemas. Their types may describe what it
    // sends back; their parsers may not run on what it receives.
    files: ['src/sandbox/wire/**/*.ts', 'src/sandbox/engine/**/*.ts', 'src/sandbox/control/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/ledger/schema', '**/ledger/schema/*'],
              allowTypeImports: true,
              message:
                'The double must not decode with the client schemas (src/ledger/schema): decode as the real server does, in src/sandbox/wire/decode.',
            },
          ],
        },
      ],
    },
  },
  // Layers that point one way (docs/internals.md, "Layers"). From the bottom:
  //   1. contracts: src/lib, src/failures.ts, src/events (and the wire types, src/ledger/schema);
  //   2. src/ingestion: the ingestion domain, pure (facts, parser, ledger state, batch model);
  //   3. src/store: SQL and row mapping;
  //   4. the ledger clients: src/ledger, and src/treasury (the treasury's key and onboarding);
  //   5. src/gates: what holds work (the operator switches, the traffic gate);
  //   6. src/streams: ingestion's I/O;
  //   7. src/machines: definitions, runtimes, and their effects;
  //   8. src/admin: operator workflows (holdings job, recovery, reconciliation, onboarding);
  //   9. the surfaces: src/http, src/cli, src/conformance; then src/service.ts, src/daemon.ts.
  // A layer imports only layers below it (and the process-wide config, logger, lifecycle and
  // API errors at the top of src/). Imports are relative, so each zone names what it must not
  // reach by a path that climbs out of its folder.
  {
    // The contracts import nothing of the daemon.
    files: ['src/lib/**/*.ts', 'src/events/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./', message: 'src/lib and src/events are contracts below every layer: they import nothing of the daemon.' },
          ],
        },
      ],
    },
  },
  {
    // At the top of src/: any relative import is another part of the daemon.
    files: ['src/failures.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^\\.', message: 'src/failures.ts is a contract below every layer: it imports nothing of the daemon.' }] },
      ],
    },
  },
  {
    // The ingestion domain decides, it does no I/O: no database, no network, no other layer.
    files: ['src/ingestion/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(?!(lib|events|ledger/schema)/|failures\\.js$)',
              message:
                'src/ingestion is the pure ingestion domain: it may import src/lib, src/events, src/failures.ts and the wire types (src/ledger/schema), nothing else of the daemon.',
            },
            {
              regex: '^(postgres|ws|undici|node:(net|http|https|fs|fs/promises|child_process))$',
              message: 'src/ingestion does no I/O: the database is src/store, the ledger stream src/streams.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'fetch', message: 'src/ingestion does no I/O.' },
        { name: 'WebSocket', message: 'src/ingestion does no I/O.' },
      ],
    },
  },
  {
    // The store is SQL and row mapping: it serves the layers above and imports none of them.
    files: ['src/store/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex:
                '^(\\.\\./)+(streams|machines|admin|http|cli|conformance|treasury|sandbox)/|^(\\.\\./)+(service|service-metrics|daemon|main|metrics|config|lifecycle)\\.js$',
              message:
                'src/store holds SQL and row mapping and imports no layer above it: what it needs belongs below it (src/ingestion, src/lib, src/events, src/failures.ts), or the caller above passes it in.',
            },
            {
              regex: '^(\\.\\./)+ledger/(?!schema/)',
              allowTypeImports: true,
              message:
                "src/store does not call the ledger; it may name the clients' data types (import type) and use the wire types (src/ledger/schema).",
            },
          ],
        },
      ],
    },
  },
  ...[
    {
      folders: ['ledger', 'treasury'],
      above: ['ingestion', 'store', 'gates', 'streams', 'machines', 'admin', 'http', 'cli', 'conformance'],
    },
    { folders: ['gates'], above: ['streams', 'machines', 'admin', 'http', 'cli', 'conformance', 'treasury'] },
    { folders: ['streams'], above: ['machines', 'admin', 'http', 'cli', 'conformance', 'treasury'] },
    { folders: ['machines'], above: ['streams', 'admin', 'http', 'cli', 'conformance'] },
    { folders: ['admin'], above: ['machines', 'http', 'cli', 'conformance'] },
    { folders: ['http', 'cli'], above: ['cli', 'http', 'conformance'] },
  ].map(({ folders, above }) => layerZone(folders, above)),
  {
    // Command-line entry points print to the terminal by design.
    files: ['scripts/**', 'bench/**', 'bin/**', 'src/cli/**'],
    rules: { 'no-console': 'off' },
  },
);
