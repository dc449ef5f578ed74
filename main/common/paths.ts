import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the installed package (the folder holding package.json), from source or from dist/. */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // main/common → root, or dist/main/common → root
  const up = here.split(path.sep).includes('dist') ? '../../..' : '../..';
  return path.resolve(here, up);
}

/**
 * Where templates/ (the Python side) lives: beside package.json, or — in the packaged desktop
 * app, whose code runs from resources/app.asar — in resources/templates, since Python cannot
 * import from inside an asar archive (electron-builder.yml copies it there as extraResources).
 */
export function templatesRoot(root: string = packageRoot()): string {
  return path.basename(root) === 'app.asar' ? path.join(path.dirname(root), 'templates') : path.join(root, 'templates');
}
