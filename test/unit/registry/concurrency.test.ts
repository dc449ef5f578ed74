import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { fileText, makeRegistry, versionInput, type TestRegistry } from './helpers.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'promote-child.ts');
const ROUNDS = 5;

interface ChildResult {
  ok: boolean;
  version: string;
  archived?: string | null;
  error?: string;
}

function runChild(t: TestRegistry, version: string, startFile: string): { ready: string; done: Promise<ChildResult> } {
  const ready = path.join(t.dir, `ready-${version}`);
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, t.dbPath, t.logsDir, version, ready, startFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errText = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (errText += d.toString()));
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`child ${version} exited ${code}: ${errText}`));
      else resolve(JSON.parse(out.trim()) as ChildResult);
    });
  });
  return { ready, done };
}

async function waitFor(files: string[], timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!files.every((f) => fs.existsSync(f))) {
    if (Date.now() > end) throw new Error(`children not ready: ${files.join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('two processes promoting to production at the same moment', () => {
  let t: TestRegistry | undefined;
  afterEach(() => t?.cleanup());

  for (let round = 1; round <= ROUNDS; round++) {
    it(`serialize: exactly one production, the other archived (round ${round})`, async () => {
      t = makeRegistry();
      t.registry.registerVersion(versionInput('m'));
      t.registry.registerVersion(versionInput('m'));
      const startFile = path.join(t.dir, 'start');
      const a = runChild(t, 'v1', startFile);
      const b = runChild(t, 'v2', startFile);
      await waitFor([a.ready, b.ready]);
      fs.writeFileSync(startFile, 'go');
      const results = await Promise.all([a.done, b.done]);

      // Both succeed: the second one, serialized behind the first, archives the first's version.
      expect(results.map((r) => r.ok)).toEqual([true, true]);
      const versions = t.registry.listVersions('m');
      const production = versions.filter((v) => v.stage === 'production');
      const archived = versions.filter((v) => v.stage === 'archived');
      expect(production).toHaveLength(1);
      expect(archived).toHaveLength(1);
      const winner = production[0]?.version;
      const loser = archived[0]?.version;
      expect(results.find((r) => r.version === winner)?.archived).toBe(loser);
      expect(results.find((r) => r.version === loser)?.archived).toBeNull();

      // Transitions replay to the final stages, and read as one serial story.
      const transitions = t.registry.listTransitions('m');
      expect(transitions.slice(2).map((x) => `${x.version}:${x.from_stage}->${x.to_stage}`)).toEqual([
        `${loser}:dev->production`,
        `${loser}:production->archived`,
        `${winner}:dev->production`,
      ]);
      for (const v of versions) {
        const last = transitions.filter((x) => x.version === v.version).at(-1);
        expect(last?.to_stage).toBe(v.stage);
      }
      // The events table holds the serial story; the JSONL lines are appended after each commit,
      // so two processes may append in either order, but every event is there once, whole.
      const serial = ['register', 'register', 'promote', 'archive', 'promote'];
      expect(t.registry.listEvents('m', 10).map((e) => e.event)).toEqual(serial);
      expect(t.log.read('m').map((e) => e.event).sort()).toEqual([...serial].sort());
      expect(fileText(t.log.file('m')).trimEnd().split('\n')).toHaveLength(serial.length);
    });
  }
});
