/**
 * The offline base image for generated servers on machines without PyPI or Docker Hub:
 * `frameworm/base-offline:<hash>` = templates/docker/base-offline.Dockerfile (Debian's python3
 * with FastAPI, uvicorn, NumPy and torch) FROM `local/bookworm-min`, a debootstrap minbase
 * rootfs imported with `docker import`. Both are built once and found again with
 * `docker image inspect`; the tag is a hash of the Dockerfile, so editing it rebuilds.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { processAlive } from '../common/process.js';
import { templatesDir } from '../export/python-finder.js';
import type { BuildProgress, DockerClient } from './docker-client.js';

export const ROOTFS_IMAGE = 'local/bookworm-min';
export const BASE_DOCKERFILE = 'base-offline.Dockerfile';
export const BASE_REPO = 'frameworm/base-offline';

export interface BaseImageOptions {
  readonly labels?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: BuildProgress) => void;
  /** Debian mirror for debootstrap; default the first URIs/deb line of the host's apt sources. */
  readonly mirror?: string;
}

export interface BaseImage {
  readonly tag: string;
  readonly id: string;
  /** False when found in the local image store. */
  readonly built: boolean;
  readonly seconds: number;
}

/** `frameworm/base-offline:<first 12 hex of sha256(Dockerfile)>`. */
export function baseImageTag(dockerfileText = fs.readFileSync(path.join(templatesDir(), 'docker', BASE_DOCKERFILE), 'utf8')): string {
  return `${BASE_REPO}:${crypto.createHash('sha256').update(dockerfileText).digest('hex').slice(0, 12)}`;
}

/** The host's Debian mirror (deb822 `URIs:` or one-line `deb URL`), else deb.debian.org. */
export function hostMirror(): string {
  const files = ['/etc/apt/sources.list', ...(fs.existsSync('/etc/apt/sources.list.d') ? fs.readdirSync('/etc/apt/sources.list.d').map((f) => path.join('/etc/apt/sources.list.d', f)) : [])];
  for (const f of files) {
    if (!/(\.list|\.sources)$/.test(f) || !fs.existsSync(f)) continue;
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      const m = /^URIs:\s*(\S+)/.exec(line) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line);
      if (m?.[1] && /\/debian\/?$/.test(m[1])) return m[1];
    }
  }
  return 'http://deb.debian.org/debian';
}

function sh(script: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', (e) => reject(new FramewormError('E_RUNTIME', `${script.split('\n')[0]}: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new FramewormError('E_RUNTIME', `creating ${ROOTFS_IMAGE} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

/** Creates local/bookworm-min with debootstrap + docker import when it is missing (needs root). */
export async function ensureRootfsImage(client: DockerClient, options: BaseImageOptions = {}): Promise<boolean> {
  if (await client.imageId(ROOTFS_IMAGE)) return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-rootfs-'));
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  try {
    await sh(
      [
        `command -v debootstrap >/dev/null || { echo 'debootstrap is not installed (apt-get install -y debootstrap)' >&2; exit 1; }`,
        `debootstrap --variant=minbase bookworm ${q(path.join(dir, 'rootfs'))} ${q(options.mirror ?? hostMirror())}`,
        `tar -C ${q(path.join(dir, 'rootfs'))} -c . | docker -H unix://${client.socketPath} import -m 'frameworm: debootstrap bookworm minbase' - ${ROOTFS_IMAGE}`,
      ].join('\n'),
      options.signal,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return true;
}

/** Finds or builds frameworm/base-offline:<hash> (and local/bookworm-min beneath it). */
export async function ensureOfflineBaseImage(client: DockerClient, options: BaseImageOptions = {}): Promise<BaseImage> {
  const t0 = Date.now();
  const dockerDir = path.join(templatesDir(), 'docker');
  const text = fs.readFileSync(path.join(dockerDir, BASE_DOCKERFILE), 'utf8');
  const tag = baseImageTag(text);
  const found = await client.imageId(tag);
  if (found) return { tag, id: found, built: false, seconds: (Date.now() - t0) / 1000 };
  // Two deploys (or test files) needing it at once: one builds, the others wait and find it.
  return withBuildLock(path.join(os.tmpdir(), `frameworm-base-${tag.split(':')[1] ?? 'image'}.lock`), options.signal, async () => {
    const built = await client.imageId(tag);
    if (built) return { tag, id: built, built: false, seconds: (Date.now() - t0) / 1000 };
    return buildBase(client, tag, text, options, t0);
  });
}

async function buildBase(client: DockerClient, tag: string, text: string, options: BaseImageOptions, t0: number): Promise<BaseImage> {
  await ensureRootfsImage(client, options);
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-basectx-'));
  try {
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), text);
    const image = await client.buildImage(ctx, {
      tag,
      labels: { 'frameworm.base': 'offline', ...(options.labels ?? {}) },
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { tag, id: image.id, built: true, seconds: (Date.now() - t0) / 1000 };
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

/** Runs `fn` holding an exclusive lock file (pid inside; a dead holder's lock is taken over). */
async function withBuildLock<T>(file: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  let fd: number | null = null;
  while (fd === null) {
    if (signal?.aborted) throw new FramewormError('E_RUNTIME', 'cancelled while waiting for another build of the base image');
    try {
      fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = 0;
      try {
        holder = Number.parseInt(fs.readFileSync(file, 'utf8') || '0', 10);
      } catch {
        continue; // released just now: try again
      }
      // An empty file is a holder between open and write: give it a moment.
      if (holder > 0 && !processAlive(holder)) fs.rmSync(file, { force: true });
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}
