import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../workspace/private-files.js';

/** What a running agent publishes so clients can find it: `.frameworm/agent.json`. */
export interface AgentRecord {
  readonly pid: number;
  readonly port: number;
  readonly token: string;
  readonly workspace: string;
  readonly started_at: string;
  /**
   * A string of the host's command line (its entry script, or the desktop app's executable):
   * the Electron main process hosts the control plane too, and its command line has no
   * agent-main. Absent in records of older agents.
   */
  readonly entry?: string;
}

export const controlDirOf = (workspaceRoot: string): string => path.join(workspaceRoot, '.frameworm');
const infoPath = (controlDir: string): string => path.join(controlDir, 'agent.json');
const lockPath = (controlDir: string): string => path.join(controlDir, 'agent.lock');
export const agentLogPath = (controlDir: string): string => path.join(controlDir, 'agent.log');

import { processAlive } from '../common/process.js';

export { processAlive };

/**
 * False when the process with this pid is known not to be a Frameworm agent: after a kill -9
 * the record stays behind and the pid may be reused by an unrelated program, which must not be
 * reported as an agent that does not answer. Without procfs there is no way to tell: true.
 * `entry` (from the record) names the host's command-line entry when it is not agent-main.
 */
export function looksLikeAgent(pid: number, entry?: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((arg) => /agent-main\.[jt]s$/.test(arg) || (entry !== undefined && entry !== '' && arg === entry));
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync('/proc/self/cmdline');
  }
}

/** Reads the agent record, or null when there is none or its process is gone. */
export function readAgentRecord(controlDir: string): AgentRecord | null {
  let text: string;
  try {
    text = fs.readFileSync(infoPath(controlDir), 'utf8');
  } catch {
    return null;
  }
  try {
    const rec = JSON.parse(text) as AgentRecord;
    return typeof rec.pid === 'number' && processAlive(rec.pid) ? rec : null;
  } catch {
    return null;
  }
}

/** Publishes the agent record atomically, readable by the owner only (it holds the token). */
export function writeAgentRecord(controlDir: string, record: AgentRecord): void {
  makePrivateDir(controlDir, { tighten: true });
  const tmp = `${infoPath(controlDir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2), { mode: PRIVATE_FILE_MODE });
  fs.renameSync(tmp, infoPath(controlDir));
}

export function removeAgentRecord(controlDir: string): void {
  fs.rmSync(infoPath(controlDir), { force: true });
}

/**
 * Takes the one-control-plane-per-workspace lock, clearing a lock left by a dead process.
 *
 * The lock is a file created exclusively; its content is the owner's pid.
 */
export function acquireControlLock(controlDir: string): () => void {
  makePrivateDir(controlDir, { tighten: true });
  const file = lockPath(controlDir);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: PRIVATE_FILE_MODE });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      if (Number.isFinite(owner) && owner !== process.pid && processAlive(owner)) {
        throw new FramewormError('E_CONFLICT', `another control plane (pid ${owner}) already runs for this workspace`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new FramewormError('E_AGENT', `could not take the control-plane lock ${file}`);
}
