/**
 * Crash-safety trials need the control plane stopped at an exact step of a multi-step change
 * (e.g. between a rollback's commit and its switch) to kill it there. This is the one place such
 * a pause exists, and it does nothing unless the process was started with the explicit
 * test-only switch FRAMEWORM_TEST_HOOKS=1 and FRAMEWORM_TEST_PAUSE naming the step. Paused, it
 * writes `<step>` to FRAMEWORM_TEST_PAUSE_FILE (so the test knows where it stands) and waits
 * until the test deletes that file (then it goes on) or kills the process.
 */
import fs from 'node:fs';

const enabled = process.env['FRAMEWORM_TEST_HOOKS'] === '1';
const pauseAt = enabled ? (process.env['FRAMEWORM_TEST_PAUSE'] ?? '') : '';
const pauseFile = enabled ? (process.env['FRAMEWORM_TEST_PAUSE_FILE'] ?? '') : '';

/** Resolves at once, except at the step a crash trial asked to stop at. */
export async function testPause(step: string): Promise<void> {
  if (pauseAt === '' || pauseAt !== step) return;
  if (pauseFile === '') {
    await new Promise<never>(() => {
      setInterval(() => {}, 60_000);
    });
  }
  fs.writeFileSync(pauseFile, step);
  while (fs.existsSync(pauseFile)) await new Promise((r) => setTimeout(r, 20));
}
