/**
 * Owner-only folders and files (issue 8 weak spot: registry, JSONL and agent log were
 * world-readable). The modes are checked on the real file system, with a permissive umask so a
 * restrictive one cannot make the test pass by accident.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateFile, makePrivateDir, openPrivateFile } from '../../../main/workspace/private-files.js';
import { Workspace } from '../../../main/workspace/workspace.js';

const modeOf = (p: string): number => fs.statSync(p).mode & 0o777;

let dir: string;
let oldUmask: number;
beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fw-private-')));
  oldUmask = process.umask(0o022);
});
afterEach(() => {
  process.umask(oldUmask);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('makePrivateDir', () => {
  it('creates the folder and every missing parent as 0700', () => {
    makePrivateDir(path.join(dir, 'a', 'b', 'c'));
    for (const d of ['a', 'a/b', 'a/b/c']) expect(modeOf(path.join(dir, d)), d).toBe(0o700);
  });

  it('leaves an existing folder alone unless asked to tighten it', () => {
    const shared = path.join(dir, 'shared');
    fs.mkdirSync(shared, { mode: 0o755 });
    makePrivateDir(shared);
    expect(modeOf(shared)).toBe(0o755);
    makePrivateDir(shared, { tighten: true });
    expect(modeOf(shared)).toBe(0o700);
  });
});

describe('openPrivateFile / ensurePrivateFile', () => {
  it('creates files as 0600 and narrows an existing world-readable one, keeping its content', () => {
    const fresh = path.join(dir, 'fresh.log');
    const fd = openPrivateFile(fresh, 'a');
    fs.writeSync(fd, 'x\n');
    fs.closeSync(fd);
    expect(modeOf(fresh)).toBe(0o600);

    const old = path.join(dir, 'old.log');
    fs.writeFileSync(old, 'kept\n', { mode: 0o644 });
    expect(modeOf(old)).toBe(0o644);
    ensurePrivateFile(old);
    expect(modeOf(old)).toBe(0o600);
    expect(fs.readFileSync(old, 'utf8')).toBe('kept\n');
  });
});

describe('Workspace.ensureDirs', () => {
  it('creates experiments/ and .frameworm/ owner-only, and narrows an existing .frameworm/', () => {
    fs.mkdirSync(path.join(dir, '.frameworm'), { mode: 0o755 });
    const ws = Workspace.open(dir);
    ws.ensureDirs();
    for (const d of [path.join(dir, 'experiments'), ws.registryDir, ws.exportsDir, ws.logsDir, ws.shiftProfilesDir, ws.controlDir]) {
      expect(modeOf(d), d).toBe(0o700);
    }
    // Generated servers are meant to be shipped: they keep the umask's mode.
    expect(modeOf(ws.generatedRootDir)).toBe(0o755);
  });
});
