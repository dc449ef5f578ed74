// Lint rules for the whole project. The layering rule keeps domain code in main/ free of
// Electron so the CLI, the headless agent and the tests run it under plain Node.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'renderer/dist/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['main/**/*.ts'],
    ignores: ['main/shell/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'Domain code under main/ must not import electron; only main/shell/ may.' }],
          patterns: [{ group: ['electron/*'], message: 'Domain code under main/ must not import electron; only main/shell/ may.' }],
        },
      ],
    },
  },
  {
    // The renderer reaches the control plane only through the typed contract (preload/contract.ts).
    files: ['renderer/src/**/*.ts', 'renderer/src/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'The renderer talks to main only through preload/contract.ts.' }],
          patterns: [{ group: ['**/main/**', 'node:*'], message: 'The renderer talks to main only through preload/contract.ts.' }],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
