/**
 * The batching test files' setup (vitest hooks; kept apart from batching-fixtures.ts, which
 * the benchmark imports outside vitest).
 */
import { afterAll, beforeAll } from 'vitest';
import type { ModelType } from '../../../main/common/types.js';
import type { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { exportCompat, loadBackend, type Exports, type LoadOptions } from './batching-fixtures.js';

/**
 * For a test file: exports `types` once before its tests (with the `before` step first, e.g.
 * setting test-hook variables the workers read), and disposes every backend it loaded and the
 * exports after them. `backend(type, options)` loads one from the exports.
 */
export function compatBackends(
  types: readonly ModelType[],
  hooks: { readonly before?: () => void; readonly after?: () => void } = {},
): (type: ModelType, options?: LoadOptions) => Promise<EmbeddedBackend> {
  let exports: Exports | null = null;
  const open: EmbeddedBackend[] = [];
  beforeAll(async () => {
    hooks.before?.();
    exports = await exportCompat(types);
  }, 240_000);
  afterAll(async () => {
    await Promise.all(open.map((b) => b.dispose()));
    exports?.cleanup();
    hooks.after?.();
  });
  return async (type, options = {}) => {
    if (!exports) throw new Error('the compat exports are made in beforeAll; load backends inside tests');
    const b = await loadBackend(exports, type, options);
    open.push(b);
    return b;
  };
}
