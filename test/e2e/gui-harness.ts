/**
 * Shared parts of the GUI's end-to-end test and benchmark (issue 11): `frameworm ui --web`
 * started through the real CLI, and Debian's Chromium driven by playwright-core.
 *
 * Nothing here imports vitest, so the benchmark (plain node) uses it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from '../integration/cli/cli-harness.js';

/** Debian's Chromium (`apt-get install chromium`; scripts/setup.sh --test installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Flags for headless Chromium on these machines (the project notes on this machine kind): no sandbox (root), no GPU,
 * and nothing that reaches out to the network on its own.
 */
export const CHROMIUM_ARGS: readonly string[] = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches headless Chromium; playwright-core gives each context a fresh profile in a temp dir. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh --test (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS] });
}

/** A running `frameworm ui --web`: its printed URL and how to stop it. */
export interface WebUi {
  /** The URL it printed, with the one-time token: `http://127.0.0.1:N/?token=T`. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  readonly token: string;
  /** What it wrote on stderr so far (for failure messages). */
  stderr(): string;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `frameworm ui --web --workspace WS` (bin/frameworm.js → dist/) and waits for its URL line. */
export async function startWebUi(workspace: string, boundMs = 90_000): Promise<WebUi> {
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'bin/frameworm.js'), 'ui', '--web', '--workspace', workspace], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let timer: NodeJS.Timeout | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)$/m.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`frameworm ui --web exited ${String(code)}: ${stderr}`)));
    timer = setTimeout(() => reject(new Error(`frameworm ui --web printed no URL within ${boundMs} ms: ${stderr}`)), boundMs);
  }).finally(() => clearTimeout(timer));
  const parsed = new URL(url);
  return {
    url,
    origin: parsed.origin,
    port: Number(parsed.port),
    token: parsed.searchParams.get('token') ?? '',
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A file of `bytes` random bytes named `name` in a fresh temp folder (a checkpoint that is not one). */
export function randomBytesFile(name: string, bytes: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-gui-bad-'));
  const file = path.join(dir, name);
  // Deterministic "random" bytes (an LCG): the same junk every run, no pickle or zip magic.
  const buf = Buffer.alloc(bytes);
  let x = 0x2545f491;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  fs.writeFileSync(file, buf);
  return file;
}
