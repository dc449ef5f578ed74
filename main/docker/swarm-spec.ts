/**
 * The Swarm service spec of one version of a deployment (the swarm target). Pure: what the
 * daemon is asked for, so it can be read and tested without one.
 *
 * Networking: these machines run dockerd without iptables, so the routing mesh (ingress) does
 * not publish anything. Each task runs on the host network instead and its server listens on a
 * port of its own, `port_base + slot` (`{{.Task.Slot}}` is one of the few places Swarm expands
 * templates: env). A replacement task keeps its slot, so it needs its predecessor's port: the
 * update order must be stop-first, one task at a time, and one of ≥ 2 replicas always serves.
 *
 * Hardening as the docker target applies it, where Swarm services take it: read-only root with
 * a /tmp tmpfs, every capability dropped, the image's non-root user (10001), memory and pids
 * limits, a bounded json-file log. Swarm services have no `security_opt`, so no-new-privileges
 * cannot be set (moby #41371); the server runs as a non-root user without capabilities instead.
 */
import { CONTAINER_PIDS_LIMIT } from './hardening.js';

/** The generated server's non-root user (templates/docker/Dockerfile `USER`). */
export const SERVER_USER = '10001:10001';
/** Labels every service of the swarm target carries (the workspace one marks ours). */
export const SWARM_LABEL_WORKSPACE = 'frameworm.swarm.workspace';
export const SWARM_LABEL_MODEL = 'frameworm.model';
export const SWARM_LABEL_VERSION = 'frameworm.version';
export const SWARM_LABEL_PORT_BASE = 'frameworm.port_base';

const S = 1_000_000_000; // Swarm durations are nanoseconds

/** What one version's service is made of. */
export interface SwarmServiceInput {
  readonly serviceName: string;
  readonly workspaceId: string;
  readonly model: string;
  readonly version: string;
  /** The image id (sha256:…): referenced by id, the engine runs it from its store without a pull. */
  readonly imageId: string;
  readonly replicas: number;
  /** Task in slot N listens on portBase + N. */
  readonly portBase: number;
  /** Address the servers bind on the host (the stable endpoint reaches them there). */
  readonly bindHost: string;
  readonly memoryBytes: number;
  /** Node the tasks are placed on (this manager: the stable endpoint reaches 127.0.0.1 only). */
  readonly nodeId: string;
  readonly timing: SwarmTiming;
}

/** Durations derived from what was measured of the model (see swarmTiming). */
export interface SwarmTiming {
  /** Health-check start period: failures before it do not count (the model loads meanwhile). */
  readonly startPeriodS: number;
  /** After each updated task is up, how long Swarm watches it for a failure. */
  readonly monitorS: number;
  /** Time a stopping task gets to finish its requests before SIGKILL. */
  readonly stopGraceS: number;
}

/**
 * Timing from measurements: `loadMs` is how long a task of this model took to become healthy
 * (null before the first one), `p99Ms` the serving version's p99 (null before any request).
 * The start period gives a slow load three times its measured time, at most `readyTimeoutS`
 * (the configured container_ready_timeout_s); the monitor covers two load times and at least
 * 5 s; the stop grace lets a request at p99 finish twice over, 5 s to the request time-out.
 */
export function swarmTiming(loadMs: number | null, p99Ms: number | null, readyTimeoutS: number, requestTimeoutMs: number): SwarmTiming {
  const load = loadMs === null ? null : loadMs / 1000;
  const startPeriodS = load === null ? readyTimeoutS : Math.min(readyTimeoutS, Math.max(10, Math.ceil(3 * load)));
  const monitorS = load === null ? 10 : Math.min(120, Math.max(5, Math.ceil(2 * load)));
  const maxGrace = Math.max(5, Math.ceil(requestTimeoutMs / 1000));
  const stopGraceS = p99Ms === null ? maxGrace : Math.min(maxGrace, Math.max(5, Math.ceil((2 * p99Ms) / 1000) + 1));
  return { startPeriodS, monitorS, stopGraceS };
}

/** The server's command on the host network: uvicorn on portBase + slot (sh does the sum). */
export function serverCommand(bindHost: string): string[] {
  return ['sh', '-c', `exec python3 -m uvicorn server:app --host ${bindHost} --port $((FRAMEWORM_PORT_BASE + FRAMEWORM_SLOT)) --timeout-keep-alive 75`];
}

/** The health check: /ready of the task's own port (the image's HEALTHCHECK assumes 8080). */
export function healthCommand(bindHost: string): string[] {
  const probe =
    "import os, sys, urllib.request; p = int(os.environ['FRAMEWORM_PORT_BASE']) + int(os.environ['FRAMEWORM_SLOT']); " +
    `sys.exit(0 if urllib.request.urlopen('http://${bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost}:%d/ready' % p, timeout=2).status == 200 else 1)`;
  return ['CMD', 'python3', '-c', probe];
}

/** The update and rollback policy: one task at a time, stop-first (per-slot ports), roll back on failure. */
export function updatePolicy(monitorS: number): { UpdateConfig: Record<string, unknown>; RollbackConfig: Record<string, unknown> } {
  return {
    UpdateConfig: { Parallelism: 1, Delay: 0, FailureAction: 'rollback', Monitor: monitorS * S, MaxFailureRatio: 0, Order: 'stop-first' },
    // A rollback that fails too is left paused for a person: rolling forward again would loop.
    RollbackConfig: { Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: monitorS * S, MaxFailureRatio: 0, Order: 'stop-first' },
  };
}

/** The full ServiceSpec (Docker Engine API ≥ 1.41). */
export function serviceSpec(input: SwarmServiceInput): Record<string, unknown> {
  const { timing } = input;
  return {
    Name: input.serviceName,
    Labels: {
      [SWARM_LABEL_WORKSPACE]: input.workspaceId,
      [SWARM_LABEL_MODEL]: input.model,
      [SWARM_LABEL_VERSION]: input.version,
      [SWARM_LABEL_PORT_BASE]: String(input.portBase),
    },
    TaskTemplate: {
      ContainerSpec: {
        Image: input.imageId,
        // No workspace label on the containers: the docker target removes containers carrying it.
        Labels: { [SWARM_LABEL_MODEL]: input.model, [SWARM_LABEL_VERSION]: input.version },
        Command: serverCommand(input.bindHost),
        Env: [`FRAMEWORM_PORT_BASE=${input.portBase}`, 'FRAMEWORM_SLOT={{.Task.Slot}}'],
        User: SERVER_USER,
        ReadOnly: true,
        Mounts: [{ Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 256 * 1024 * 1024 } }],
        CapabilityDrop: ['ALL'],
        StopSignal: 'SIGTERM',
        StopGracePeriod: timing.stopGraceS * S,
        Healthcheck: { Test: healthCommand(input.bindHost), Interval: 2 * S, Timeout: 3 * S, Retries: 3, StartPeriod: timing.startPeriodS * S },
      },
      Resources: {
        Limits: { MemoryBytes: input.memoryBytes, Pids: CONTAINER_PIDS_LIMIT },
      },
      // A task that exits for any reason is replaced in its slot (same port).
      RestartPolicy: { Condition: 'any', Delay: 1 * S, MaxAttempts: 0 },
      Placement: { Constraints: [`node.id==${input.nodeId}`] },
      Networks: [{ Target: 'host' }],
      LogDriver: { Name: 'json-file', Options: { 'max-size': '10m', 'max-file': '3' } },
    },
    Mode: { Replicated: { Replicas: input.replicas } },
    ...updatePolicy(timing.monitorS),
  };
}
