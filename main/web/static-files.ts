/**
 * The built renderer, served read-only from one folder. A request path is decoded once and
 * refused (404) when any segment is `..`, `.`, empty-with-a-backslash or holds a NUL — before it
 * touches the file system — and the resolved file must still lie inside the folder after
 * symbolic links are followed. Nothing outside renderer/dist is ever read.
 */
import fs from 'node:fs';
import path from 'node:path';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** A file to send: where it is and its content type. */
export interface StaticFile {
  readonly file: string;
  readonly contentType: string;
}

/**
 * Maps a raw request path (without the query) to a file of `root`, or null (404). `/` is the
 * index. Percent-encoded dots and slashes count as what they encode.
 */
export function resolveStatic(root: string, rawPath: string): StaticFile | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/').slice(1);
  if (segments.some((s) => s === '..' || s === '.')) return null;
  const relative = segments.filter((s) => s !== '').join('/') || 'index.html';
  const base = path.resolve(root);
  const candidate = path.resolve(base, relative);
  if (!candidate.startsWith(base + path.sep)) return null;
  let real: string;
  try {
    real = fs.realpathSync(candidate);
    if (!fs.statSync(real).isFile()) return null;
  } catch {
    return null;
  }
  // A link inside dist pointing elsewhere is as good as a traversal.
  if (!real.startsWith(fs.realpathSync(base) + path.sep)) return null;
  return { file: real, contentType: CONTENT_TYPES[path.extname(real).toLowerCase()] ?? 'application/octet-stream' };
}

/** True when the renderer has been built into `root`. */
export function rendererBuilt(root: string): boolean {
  return fs.existsSync(path.join(root, 'index.html'));
}
