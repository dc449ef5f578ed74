/**
 * The Swarm side of the Docker Engine API for the swarm target, over dockerode: is this node a
 * manager, create / update / scale / remove a service, list its tasks, and wait for an update to
 * finish — or for Swarm to roll it back.
 *
 * Every failure is a FramewormError. A daemon that is not a swarm manager answers 503 "This node
 * is not a swarm manager"; that becomes one line naming the command that fixes it.
 *
 * dockerode's `service.update(opts)` sends `opts` as the body and as the query string alike, so
 * the spec is passed as `{_query: {version}, _body: spec}`; the version is the service's
 * current `Version.Index` (a stale one is "update out of sequence", retried once).
 */
import type Docker from 'dockerode';
import { FramewormError } from '../common/errors.js';
import { daemonMessage, daemonStatus, type DockerClient } from './docker-client.js';

/** The command that makes this machine a one-node swarm. */
export const SWARM_INIT_COMMAND = 'docker swarm init --advertise-addr 127.0.0.1';

/** What the target reads of a service (Engine API `Service`). */
export interface ServiceInfo {
  readonly ID: string;
  readonly Version: { readonly Index: number };
  readonly Spec: ServiceSpecInfo;
  readonly PreviousSpec?: ServiceSpecInfo;
  readonly UpdateStatus?: { readonly State?: string; readonly StartedAt?: string; readonly CompletedAt?: string; readonly Message?: string };
}

export interface ServiceSpecInfo {
  readonly Name: string;
  readonly Labels?: Record<string, string>;
  readonly TaskTemplate: { readonly ContainerSpec: { readonly Image: string; readonly Labels?: Record<string, string> } } & Record<string, unknown>;
  readonly Mode: { readonly Replicated?: { readonly Replicas?: number } };
  readonly UpdateConfig?: { readonly Order?: string };
}

/** What the target reads of a task (Engine API `Task`). */
export interface TaskInfo {
  readonly ID: string;
  readonly Slot?: number;
  readonly DesiredState: string;
  readonly CreatedAt?: string;
  readonly Status: {
    readonly State: string;
    readonly Timestamp?: string;
    readonly Err?: string;
    readonly Message?: string;
    readonly ContainerStatus?: { readonly ContainerID?: string; readonly ExitCode?: number };
  };
  readonly Spec: { readonly ContainerSpec?: { readonly Image?: string; readonly Labels?: Record<string, string> } };
}

/** True for the daemon's answer when it is not a swarm manager (503, or its text). */
export function isNotSwarmManager(err: unknown): boolean {
  return daemonStatus(err) === 503 || /not a swarm manager|swarm is not initialized|not part of a swarm/i.test(daemonMessage(err));
}

/** The one-line error for a daemon that is not in swarm mode. */
export function notSwarmManagerError(detail: string): FramewormError {
  return new FramewormError(
    'E_RUNTIME',
    `Docker is not in swarm mode (the daemon says: ${detail.split('\n')[0]?.trim() ?? detail}); make this machine a one-node swarm with: ${SWARM_INIT_COMMAND}`,
  );
}

/** Any daemon error of a swarm call as a FramewormError (the not-a-manager case with its fix). */
export function swarmError(what: string, err: unknown): FramewormError {
  if (err instanceof FramewormError) return err;
  if (isNotSwarmManager(err)) return notSwarmManagerError(daemonMessage(err));
  return new FramewormError('E_RUNTIME', `${what} failed: ${daemonMessage(err)}`);
}

export class SwarmClient {
  constructor(readonly client: DockerClient) {}

  get docker(): Docker {
    return this.client.docker;
  }

  /** This node's id when it is a swarm manager; the not-in-swarm-mode error otherwise. */
  async managerNodeId(): Promise<string> {
    let info: { Swarm?: { NodeID?: string; LocalNodeState?: string; ControlAvailable?: boolean } };
    try {
      // /swarm answers 503 on a node that is not a manager: the exact case to name.
      await this.docker.swarmInspect();
      info = (await this.docker.info()) as typeof info;
    } catch (err) {
      throw swarmError('docker swarm inspect', err);
    }
    const nodeId = info.Swarm?.NodeID;
    if (!nodeId || info.Swarm?.ControlAvailable !== true) throw notSwarmManagerError(`swarm state ${info.Swarm?.LocalNodeState ?? 'unknown'}, not a manager`);
    return nodeId;
  }

  /** The service, or null when there is none of that name or id. */
  async inspect(nameOrId: string): Promise<ServiceInfo | null> {
    try {
      return (await this.docker.getService(nameOrId).inspect()) as ServiceInfo;
    } catch (err) {
      if (daemonStatus(err) === 404) return null;
      throw swarmError(`docker service inspect ${nameOrId}`, err);
    }
  }

  /** Services carrying `label=value`. */
  async listByLabel(label: string, value: string): Promise<ServiceInfo[]> {
    try {
      const list = (await this.docker.listServices({ filters: { label: [`${label}=${value}`] } })) as unknown as ServiceInfo[];
      return list;
    } catch (err) {
      throw swarmError('docker service ls', err);
    }
  }

  /** Creates a service; returns its id. */
  async create(spec: Record<string, unknown>): Promise<string> {
    try {
      const created = (await this.docker.createService(spec as unknown as Docker.CreateServiceOptions)) as unknown as { id?: string; ID?: string };
      const id = created.id ?? created.ID;
      if (!id) throw new Error('the daemon returned no service id');
      return id;
    } catch (err) {
      throw swarmError(`docker service create ${String(spec['Name'])}`, err);
    }
  }

  /**
   * Replaces a service's spec (`change` gets the current one and returns the new one). Retries
   * once on "update out of sequence" (someone else updated it in between).
   */
  async update(id: string, change: (current: ServiceInfo) => Record<string, unknown>): Promise<ServiceInfo> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.inspect(id);
      if (!current) throw new FramewormError('E_RUNTIME', `swarm service ${id} is gone`);
      const spec = change(current);
      try {
        await this.docker.getService(id).update({ _query: { version: current.Version.Index }, _body: spec });
        return current;
      } catch (err) {
        if (attempt === 0 && /out of sequence/i.test(daemonMessage(err))) continue;
        throw swarmError(`docker service update ${current.Spec.Name}`, err);
      }
    }
  }

  /** Removes a service (gone already is fine) and waits, up to `waitMs`, for its containers to go. */
  async remove(id: string, waitMs: number): Promise<void> {
    try {
      await this.docker.getService(id).remove();
    } catch (err) {
      if (daemonStatus(err) !== 404) throw swarmError(`docker service rm ${id}`, err);
    }
    // Its tasks stop after the service is deleted; their ports are free only once they have.
    for (const until = Date.now() + waitMs; Date.now() < until; ) {
      const left = await this.docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.id=${id}`] } }).catch(() => []);
      if (left.every((c) => c.State !== 'running' && c.State !== 'restarting')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** The service's tasks (every desired state: history included). */
  async tasks(serviceId: string): Promise<TaskInfo[]> {
    try {
      return (await this.docker.listTasks({ filters: { service: [serviceId] } })) as TaskInfo[];
    } catch (err) {
      throw swarmError('docker service ps', err);
    }
  }

  /** A container's health (starting, healthy, unhealthy, none) or 'unknown'. */
  async containerHealth(containerId: string): Promise<string> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      return info.State.Health?.Status ?? 'none';
    } catch {
      return 'unknown';
    }
  }

  /** The last non-empty log line of a task's container ('' when there is none). */
  async lastLogLine(containerId: string): Promise<string> {
    const log = await this.client.logs(containerId, 20);
    return log.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? '';
  }
}
