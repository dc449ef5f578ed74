/**
 * Crash-safety trials need the control plane stopped at an exact step of a multi-step change
 * (e.g. between a rollback's commit and its switch) to kill it there. This is the one place such
 * a pause exists, and it does nothing unless the process was started with the explicit
 * test-only switch FRAMEWORM_TEST_HOOKS=1 and FRAMEWORM_TEST_PAUSE naming the step. Paused, it
 * writes `<step>` to FRAMEWORM_TEST_PAUSE_FILE (so the test knows where it stands) and never
 * resumes: the test kills the process.
 */
import fs from 'node:fs';

const enabled = process.env['FRAMEWORM_TEST_HOOKS'] === '1';
const pauseAt = enabled ? (process.env['FRAMEWORM_TEST_PAUSE'] ?? '') : '';
const pauseFile = enabled ? (process.env['FRAMEWORM_TEST_PAUSE_FILE'] ?? '') : '';

/** Resolves at once, except at the step a crash trial asked to stop at. */
export async function testPause(step: string): Promise<void> {
  if (pauseAt === '' || pauseAt !== step) return;
  if (pauseFile !== '') fs.writeFileSync(pauseFile, step);
  await new Promise<never>(() => {
    setInterval(() => {}, 60_000);
  });
}
