import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../../../main/agent/agent-files.js';

describe('processAlive', () => {
  it('is true for a running process, false for a zombie nobody reaps and for a pid that is gone', async () => {
    // `sleep 0` becomes a zombie child of the exec'd `sleep 5`, which never waits for it —
    // what a killed agent is in a container without an init.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      await new Promise((r) => setTimeout(r, 300));
      expect(processAlive(parent.pid ?? -1)).toBe(true);
      expect(processAlive(process.pid)).toBe(true);
      expect(processAlive(zombie)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
    await new Promise((r) => parent.once('close', r));
    expect(processAlive(parent.pid ?? -1)).toBe(false);
  });
});
