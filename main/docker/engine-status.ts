/**
 * Whether the Docker engine answers, and the tail of a container's log: what the GUI's engine
 * banner and container card show. Neither throws for an absent daemon: "not reachable" is the
 * answer, not an error.
 */
import { toFramewormError } from '../common/errors.js';
import { DockerClient } from './docker-client.js';

/** The engine as the GUI shows it. */
export interface EngineStatus {
  readonly reachable: boolean;
  readonly socket: string;
  /** The engine's version when it answers. */
  readonly version: string | null;
  /** Why it does not answer (one line), else null. */
  readonly error: string | null;
}

/** Pings the engine at `socketPath` within `timeoutMs` and reads its version. */
export async function engineStatus(socketPath: string, timeoutMs = 3000): Promise<EngineStatus> {
  let client: DockerClient;
  try {
    client = await DockerClient.connect(socketPath, timeoutMs);
  } catch (err) {
    return { reachable: false, socket: socketPath, version: null, error: toFramewormError(err).message };
  }
  try {
    const v = (await client.docker.version()) as { Version?: string };
    return { reachable: true, socket: socketPath, version: v.Version ?? null, error: null };
  } catch {
    // It answered the ping: reachable, only its version is unknown.
    return { reachable: true, socket: socketPath, version: null, error: null };
  }
}

/** The last `tail` lines of the container's log (stdout and stderr, in order), without a trailing empty line. */
export async function containerLogTail(socketPath: string, container: string, tail: number): Promise<string[]> {
  const client = await DockerClient.connect(socketPath, 3000);
  const text = await client.logs(container, tail);
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-tail);
}
