import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the installed package (the folder holding package.json), from source or from dist/. */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // main/common → root, or dist/main/common → root
  const up = here.split(path.sep).includes('dist') ? '../../..' : '../..';
  return path.resolve(here, up);
}
