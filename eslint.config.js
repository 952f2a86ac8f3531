// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
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
          selector: "NewExpression[callee.name=/^(ActorError|LedgerApiError|ReservationRefused)$/] > ObjectExpression > Property[key.name='code'] > :matches(Literal, TemplateLiteral, ConditionalExpression:has(> Literal), ConditionalExpression:has(> TemplateLiteral))",
          message: 'Name the failure code from src/failures.ts (Failure.X, or familyCode for HTTP_/DB_ codes); add a new code there with its meaning.',
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
        { patterns: [{ group: ['**/ledger/schema', '**/ledger/schema/*'], allowTypeImports: true, message: 'The double must not decode with the client schemas (src/ledger/schema): decode as the real server does, in src/sandbox/wire/decode.' }] },
      ],
    },
  },
  {
    // Command-line entry points print to the terminal by design.
    files: ['scripts/**', 'bench/**', 'bin/**', 'src/cli/**'],
    rules: { 'no-console': 'off' },
  },
);
