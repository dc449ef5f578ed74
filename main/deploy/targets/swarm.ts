/**
 * The swarm target: a version's image (built like the docker target's) runs as a Swarm service
 * of `swarm_replicas` tasks behind the stable endpoint. One service per deployment; promote and
 * rollback update it in place — a rolling update, one task at a time, stop-first, which Swarm
 * rolls back by itself when a new task never becomes healthy. The service spec is in
 * main/docker/swarm-spec.ts, the balancing backend in main/docker/swarm-backend.ts.
 *
 * The registry, not Swarm, keeps the history: Swarm remembers one previous spec (and clears it
 * after an automatic rollback); rollback targets come from the registry, and "rolling back" here
 * is one more update to the older version's image.
 *
 * Ownership: the backend of the version the service runs now owns it. Disposing an old
 * version's backend after a switch leaves the service alone; disposing the owner (deploy stop,
 * a switch to another target) removes it — or, when the owner was never switched in and the
 * version it replaced still serves, updates the service back to that version.
 */
import crypto from 'node:crypto';
import type { DeployStartArgs, ScaleResult, SwarmStateView, SwarmTaskView } from '../../../preload/contract.js';
import { FramewormError, toFramewormError } from '../../common/errors.js';
import type { JsonObject, JsonValue } from '../../common/json.js';
import type { ModelType } from '../../common/types.js';
import { MAX_SWARM_REPLICAS, type DeployConfig } from '../../config/deploy-config.js';
import { imageRepository } from '../../docker/image-names.js';
import { SwarmBackend } from '../../docker/swarm-backend.js';
import { SwarmClient, type ServiceInfo, type TaskInfo } from '../../docker/swarm-client.js';
import { SWARM_LABEL_MODEL, SWARM_LABEL_PORT_BASE, SWARM_LABEL_VERSION, SWARM_LABEL_WORKSPACE, serviceSpec, swarmTiming, type SwarmTiming } from '../../docker/swarm-spec.js';
import type { Registry, VersionRecord } from '../../registry/registry.js';
import type { Backend } from '../../serving/backend.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { DockerTarget } from '../docker-target.js';
import { allocatePortBlock, type PortBlocks } from '../port-allocator.js';
import { versionImageId } from './version-image.js';
import { ROLLED_BACK_UPDATE, type DeploymentTarget, type PrepareRequest, type PreparedVersion, type Progress } from './target.js';

/** Where tasks' servers listen: the stable endpoint on this machine forwards to them. */
const TASK_HOST = '127.0.0.1';
/**
 * Port blocks are searched from here, one block of MAX_SWARM_REPLICAS + 1 ports per service:
 * 10000–19599, below Linux's ephemeral range (32768–60999), so a task's port is never one the
 * kernel just handed to some other program's outgoing connection or to a port-0 listener that
 * has not bound yet.
 */
const PORT_BLOCKS: PortBlocks = { start: 10_000, size: 64, count: 150 };
const POLL_MS = 500;
/** A task of a new service that fails this many times is not going to come up. */
const MAX_START_FAILURES = 3;
/** How many of a model's newest events are searched for the replicas it last ran with. */
const REPLICAS_LOOKBACK = 2_000;

interface RunRequest {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly imageId: string;
  /** Replicas asked for; null keeps the running service's (or `newReplicas()` for a new one). */
  readonly replicas: number | null;
  /** Replicas of a service created with `replicas` null. */
  readonly newReplicas: () => number;
}

export class SwarmDeploymentTarget implements DeploymentTarget {
  readonly kind = 'swarm' as const;
  readonly sharesServing = true;
  /** Per model: the backend of the version its service runs now. */
  private readonly owners = new Map<string, SwarmBackend>();
  /** Per backend that replaced another in the service: the one it replaced. */
  private readonly predecessors = new WeakMap<SwarmBackend, SwarmBackend>();
  private readonly disposed = new WeakSet<SwarmBackend>();
  /** Per model: how long its last task took from creation to healthy (ms). */
  private readonly loadMs = new Map<string, number>();

  constructor(
    private readonly workspace: Workspace,
    private readonly config: DeployConfig,
    private readonly registry: Registry,
    private readonly docker: DockerTarget,
  ) {}

  validate(args: DeployStartArgs): void {
    if (args.replicas !== undefined) checkReplicas(args.replicas, '--replicas');
  }

  /** A dead daemon, or one not in swarm mode, is reported before anything is exported or built. */
  async preflight(): Promise<void> {
    await this.swarm().then((s) => s.managerNodeId());
  }

  async prepare(request: PrepareRequest, progress: Progress, signal?: AbortSignal): Promise<PreparedVersion> {
    const { name, version, type, exportDir, args } = request;
    const image = await this.docker.build(
      { name, version, type, exportDir, ...(args.baseImage !== undefined ? { baseImage: args.baseImage } : {}), ...(request.port !== null ? { composePort: request.port } : {}), lineage: request.lineage },
      progress,
      signal,
    );
    progress({ step: 'build', message: `built ${image.tag} (${image.id.slice(7, 19)}) in ${image.buildSeconds.toFixed(1)} s`, value: 0.55 });
    return {
      // The replicas asked for are kept with the version: a restore that re-creates the service uses them.
      artifacts: { image: image.tag, base_image: image.baseImage, ...(args.replicas !== undefined ? { replicas: String(args.replicas) } : {}) },
      lineage: { image_digest: image.id },
      load: (p, s) => this.run({ name, version, type, imageId: image.id, replicas: args.replicas ?? null, newReplicas: () => this.config.swarm_replicas }, p, s),
      commit: () => this.docker.publishGenerated(name, image),
      discard: async () => {
        await this.docker.removeImage(image.id);
        this.docker.discardGenerated(name, image);
      },
    };
  }

  /** Runs a registered version (promote, rollback, restore); an image gone from the store is rebuilt. */
  async load(record: VersionRecord, progress: Progress, signal?: AbortSignal): Promise<Backend> {
    const id = await versionImageId({ docker: this.docker, registry: this.registry, workspace: this.workspace }, record, progress, signal);
    // A version loaded with no service running (restore after a graceful agent stop removed it)
    // comes back with the replicas it last ran with.
    return this.run({ name: record.name, version: record.version, type: record.type, imageId: id, replicas: null, newReplicas: () => this.lastReplicas(record.name) }, progress, signal);
  }

  /**
   * How many replicas a service re-created for `model` runs (restore after a graceful agent stop
   * removed it): the newest of its `scale` events and `--replicas` given at deploy (kept in the
   * version's register event); swarm_replicas when neither was ever given.
   */
  private lastReplicas(model: string): number {
    let events: ReturnType<Registry['listEvents']>;
    try {
      events = this.registry.listEvents(model, REPLICAS_LOOKBACK);
    } catch {
      return this.config.swarm_replicas;
    }
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      const artifacts = e.fields['artifacts'];
      const raw = e.event === 'scale' ? e.fields['replicas'] : e.event === 'register' && isJsonObject(artifacts) ? artifacts['replicas'] : undefined;
      const n = Number(raw);
      if (raw !== undefined && raw !== null && Number.isInteger(n) && n >= 1 && n <= MAX_SWARM_REPLICAS) return n;
    }
    return this.config.swarm_replicas;
  }

  async describe(): Promise<null> {
    return null;
  }

  async details(backend: Backend): Promise<{ swarm: SwarmStateView | null }> {
    if (!(backend instanceof SwarmBackend)) return { swarm: null };
    return { swarm: await this.state(backend) };
  }

  /** `deploy scale`: sets the service's replicas and waits until that many tasks run. */
  async scale(backend: Backend, replicas: number, progress: Progress): Promise<Omit<ScaleResult, 'name'>> {
    checkReplicas(replicas, '--replicas');
    if (!(backend instanceof SwarmBackend) || this.owners.get(backend.model) !== backend) {
      throw new FramewormError('E_CONFLICT', `${backend.version} is not what the swarm service runs now; see frameworm deploy status`);
    }
    const swarm = await this.swarm();
    let from = 0;
    await swarm.update(backend.serviceId, (current) => {
      from = current.Spec.Mode.Replicated?.Replicas ?? 0;
      return { ...current.Spec, Mode: { Replicated: { Replicas: replicas } } } as Record<string, unknown>;
    });
    progress({ step: 'scale', message: `${backend.serviceName}: ${from} → ${replicas} replicas`, value: 0.5 });
    const running = await this.waitRunning(swarm, backend.serviceId, backend.version, replicas, Date.now(), 'exact');
    await backend.refresh();
    return { version: backend.version, from_replicas: from, replicas, running: running.length };
  }

  async cleanUp(isRegistered: (model: string, version: string) => boolean, hasProduction: boolean, log: (line: string) => void): Promise<void> {
    let services: ServiceInfo[];
    try {
      const client = await this.docker.connect();
      if (!(await client.docker.info().then((i: { Swarm?: { ControlAvailable?: boolean } }) => i.Swarm?.ControlAvailable === true))) return;
      services = await new SwarmClient(client).listByLabel(SWARM_LABEL_WORKSPACE, this.docker.workspaceId);
    } catch {
      return; // no daemon or no swarm: nothing of ours can run
    }
    const swarm = await this.swarm();
    let removed = 0;
    let kept = 0;
    for (const s of services) {
      const model = s.Spec.Labels?.[SWARM_LABEL_MODEL] ?? '';
      const version = s.Spec.Labels?.[SWARM_LABEL_VERSION] ?? '';
      // The service of a model whose production version is on swarm survives a crashed agent and
      // is adopted by restore: run() reuses it when it runs that version's image and otherwise
      // updates it in place (a crash mid-promote / mid-rollback / mid-deploy left another version
      // there). Removing it would cut serving and re-creating it could race its old tasks' ports.
      const production = hasProduction ? this.registry.getProduction(model) : null;
      if (production?.target === 'swarm' && s.Spec.Name === this.serviceName(model)) {
        kept++;
        if (version !== production.version || !isRegistered(model, version)) log(`${model}: swarm service ${s.Spec.Name} runs ${version || 'an unknown version'}, not production ${production.version}; restore updates it`);
        continue;
      }
      await swarm.remove(s.ID, 30_000).catch(() => undefined);
      removed++;
    }
    if (removed > 0) log(`removed ${removed} swarm service(s) left by an earlier agent`);
    if (kept > 0) log(`adopting ${kept} running swarm service(s) of production versions`);
  }

  /** The service name of a model: unique per workspace and exact model name, ≤ 63 characters. */
  serviceName(name: string): string {
    const full = `fw-${this.docker.workspaceId}-${imageRepository(name)}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
    if (full.length <= 63) return full;
    const hash = crypto.createHash('sha256').update(name).digest('hex').slice(0, 8);
    return `${full.slice(0, 54)}-${hash}`;
  }

  private async swarm(): Promise<SwarmClient> {
    return new SwarmClient(await this.docker.connect());
  }

  /** Creates the model's service, or updates it to this version, and waits until it serves. */
  private async run(request: RunRequest, progress: Progress, signal?: AbortSignal): Promise<SwarmBackend> {
    const swarm = await this.swarm();
    const nodeId = await swarm.managerNodeId();
    const serviceName = this.serviceName(request.name);
    const existing = await swarm.inspect(serviceName);
    if (existing && existing.Spec.Labels?.[SWARM_LABEL_WORKSPACE] !== this.docker.workspaceId) {
      throw new FramewormError('E_CONFLICT', `a swarm service named ${serviceName} exists but is not this workspace's; remove it (docker service rm ${serviceName})`);
    }
    const owner = this.owners.get(request.name);
    const timing = swarmTiming(this.loadMs.get(request.name) ?? null, owner?.p99Ms() ?? null, this.config.container_ready_timeout_s, this.config.request_timeout_ms);
    const input = (portBase: number, replicas: number): Parameters<typeof serviceSpec>[0] => ({
      serviceName, workspaceId: this.docker.workspaceId, model: request.name, version: request.version, imageId: request.imageId,
      replicas, portBase, bindHost: TASK_HOST, memoryBytes: this.config.container_memory_mb * 1024 * 1024, nodeId, timing,
    });

    if (!existing) {
      const replicas = request.replicas ?? request.newReplicas();
      const portBase = await this.allocatePortBase(swarm, request.name);
      progress({ step: 'run', message: `creating swarm service ${serviceName} (${replicas} replica(s), ports ${portBase + 1}-${portBase + replicas})`, value: 0.6 });
      const t0 = Date.now();
      const id = await swarm.create(serviceSpec(input(portBase, replicas)));
      try {
        progress({ step: 'health', message: `waiting for ${replicas} healthy task(s) of ${serviceName}`, value: 0.7 });
        await this.waitRunning(swarm, id, request.version, replicas, t0, 'at-least', signal);
      } catch (err) {
        await swarm.remove(id, 30_000).catch(() => undefined);
        throw err;
      }
      return this.adopt(swarm, request, id, serviceName, portBase, null);
    }

    const portBase = Number(existing.Spec.Labels?.[SWARM_LABEL_PORT_BASE]);
    if (!Number.isInteger(portBase) || portBase <= 0) throw new FramewormError('E_RUNTIME', `swarm service ${serviceName} has no valid ${SWARM_LABEL_PORT_BASE} label; remove it (docker service rm ${serviceName})`);
    const runningVersion = existing.Spec.Labels?.[SWARM_LABEL_VERSION];
    const replicas = request.replicas ?? existing.Spec.Mode.Replicated?.Replicas ?? this.config.swarm_replicas;
    if (runningVersion === request.version && existing.Spec.TaskTemplate.ContainerSpec.Image === request.imageId) {
      // Already this version (an agent restarted, or a lost backend re-made): adopt it as it is.
      progress({ step: 'health', message: `adopting swarm service ${serviceName} (${request.version})`, value: 0.7 });
      await this.waitRunning(swarm, existing.ID, request.version, 1, Date.now(), 'at-least', signal);
      return this.adopt(swarm, request, existing.ID, serviceName, portBase, owner && owner.version !== request.version ? owner : null);
    }
    progress({ step: 'update', message: `rolling update of ${serviceName}: ${runningVersion ?? '?'} → ${request.version}, one task at a time (stop-first, monitor ${timing.monitorS} s)`, value: 0.6 });
    await this.update(swarm, existing, serviceSpec(input(portBase, replicas)), request, runningVersion ?? null, replicas, signal);
    return this.adopt(swarm, request, existing.ID, serviceName, portBase, owner ?? null);
  }

  /** Makes the backend of the version the service now runs, and its owner. */
  private async adopt(swarm: SwarmClient, request: RunRequest, serviceId: string, serviceName: string, portBase: number, predecessor: SwarmBackend | null): Promise<SwarmBackend> {
    const backend = new SwarmBackend({
      name: request.name, version: request.version, type: request.type, swarm, serviceId, serviceName, imageId: request.imageId, portBase,
      host: TASK_HOST, requestTimeoutMs: this.config.request_timeout_ms, pollMs: POLL_MS,
      release: (b) => this.release(b),
    });
    await backend.start();
    if (predecessor) this.predecessors.set(backend, predecessor);
    this.owners.set(request.name, backend);
    return backend;
  }

  /**
   * Updates the service to a new spec and waits for Swarm's verdict: completed, or rolled back
   * (then the failed tasks' errors are the reason). A verdict that does not come in time is
   * answered by rolling back ourselves.
   */
  private async update(swarm: SwarmClient, existing: ServiceInfo, spec: Record<string, unknown>, request: RunRequest, from: string | null, replicas: number, signal?: AbortSignal): Promise<void> {
    const before = existing.UpdateStatus?.StartedAt ?? null;
    const t0 = Date.now();
    await swarm.update(existing.ID, () => spec);
    const timing = timingOf(spec);
    // Each task: stop the old one, start and health-gate the new one, watch it for the monitor period.
    const perTask = timing.startPeriodS + timing.monitorS + timing.stopGraceS + 30;
    const until = t0 + replicas * perTask * 1000;
    for (;;) {
      const s = await swarm.inspect(existing.ID);
      if (!s) throw new FramewormError('E_RUNTIME', `swarm service ${existing.Spec.Name} disappeared during the update to ${request.version}`);
      const u = s.UpdateStatus;
      const fresh = u?.StartedAt !== undefined && u.StartedAt !== before;
      const state = fresh ? (u?.State ?? '') : '';
      if (state === 'completed') {
        this.recordLoad(request.name, await swarm.tasks(existing.ID), request.version, t0);
        await this.waitRunning(swarm, existing.ID, request.version, replicas, t0, 'at-least', signal);
        return;
      }
      if (state === 'rollback_completed' || state === 'rollback_paused' || state === 'paused') {
        const reason = await this.failureReason(swarm, existing.ID, request.version, u?.Message ?? '');
        // Rolled back: the previous version's tasks are back (healthy) before this is reported.
        if (state === 'rollback_completed' && from !== null) await this.waitRunning(swarm, existing.ID, from, replicas, t0, 'exact').catch(() => undefined);
        const still = state === 'rollback_completed' ? `; ${from ?? 'the previous version'} keeps serving` : `; the service is left ${state} (see docker service ps ${existing.Spec.Name})`;
        throw new FramewormError('E_RUNTIME', `Swarm rolled back the update of ${request.name} to ${request.version}: ${reason}${still}`, { kind: ROLLED_BACK_UPDATE, reason, service: existing.Spec.Name, state });
      }
      if (signal?.aborted || Date.now() > until) {
        // Ask Swarm to go back to the spec it ran before this update, then report.
        await swarm.update(existing.ID, (cur) => ({ ...(cur.PreviousSpec ?? existing.Spec) }) as Record<string, unknown>).catch(() => undefined);
        const why = signal?.aborted ? 'the update was cancelled' : `the update did not finish within ${Math.round((until - t0) / 1000)} s`;
        const reason = `${why}; ${await this.failureReason(swarm, existing.ID, request.version, '')}`;
        throw new FramewormError('E_RUNTIME', `the update of ${request.name} to ${request.version} was rolled back: ${reason}`, { kind: ROLLED_BACK_UPDATE, reason, service: existing.Spec.Name, state: state || 'timeout' });
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /**
   * Waits until `replicas` tasks of `version` run (healthy) — 'exact' also waits for the others
   * to stop (scale down). A new version whose tasks keep failing is given up on with their error.
   */
  private async waitRunning(swarm: SwarmClient, serviceId: string, version: string, replicas: number, t0: number, mode: 'at-least' | 'exact', signal?: AbortSignal): Promise<TaskInfo[]> {
    const until = Date.now() + this.config.container_ready_timeout_s * 1000 + 10_000;
    for (;;) {
      const tasks = await swarm.tasks(serviceId);
      const running = tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running' && versionOf(t) === version);
      const others = tasks.filter((t) => t.DesiredState === 'running' || t.Status.State === 'running').length - running.length;
      // Scaling down: the extra tasks are still running (and wanted) until Swarm gets to them.
      if (mode === 'at-least' ? running.length >= replicas : running.length === replicas && others === 0) {
        this.recordLoad(modelOfTasks(tasks) ?? '', tasks, version, t0);
        return running;
      }
      const failed = tasks.filter((t) => versionOf(t) === version && (t.Status.State === 'failed' || t.Status.State === 'rejected') && Date.parse(t.CreatedAt ?? '') >= t0 - 1000);
      let why: string | null = null;
      if (failed.length >= MAX_START_FAILURES) why = `its tasks failed ${failed.length} times: ${await this.failureReason(swarm, serviceId, version, '')}`;
      else if (signal?.aborted) why = 'the start was cancelled';
      else if (Date.now() > until) why = `${running.length} of ${replicas} task(s) were healthy within ${this.config.container_ready_timeout_s} s: ${await this.failureReason(swarm, serviceId, version, '')}`;
      if (why) throw new FramewormError('E_RUNTIME', `swarm service of ${version} did not come up: ${why}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** The newest failed task of `version`: its error and its server's last log line. */
  private async failureReason(swarm: SwarmClient, serviceId: string, version: string, fallback: string): Promise<string> {
    const tasks = await swarm.tasks(serviceId).catch(() => [] as TaskInfo[]);
    const failed = tasks
      .filter((t) => versionOf(t) === version && (t.Status.Err || ['failed', 'rejected'].includes(t.Status.State)))
      .sort((a, b) => Date.parse(b.Status.Timestamp ?? '') - Date.parse(a.Status.Timestamp ?? ''));
    const t = failed[0];
    if (!t) return fallback || 'no task of the new version became healthy';
    const container = t.Status.ContainerStatus?.ContainerID;
    const line = container ? await swarm.lastLogLine(container).catch(() => '') : '';
    const health = container && !line ? await swarm.containerHealth(container) : '';
    return `task ${t.Slot ?? '?'} ${t.Status.State}: ${t.Status.Err ?? t.Status.Message ?? 'no error given'}${line ? ` (last log line: ${line.slice(0, 300)})` : health ? ` (health ${health})` : ''}`;
  }

  /** Remembers how long the first task of `version` took from creation to running. */
  private recordLoad(model: string, tasks: readonly TaskInfo[], version: string, t0: number): void {
    if (!model) return;
    const ms = tasks
      .filter((t) => versionOf(t) === version && t.Status.State === 'running' && t.CreatedAt && t.Status.Timestamp)
      .map((t) => Date.parse(t.Status.Timestamp ?? '') - Math.max(Date.parse(t.CreatedAt ?? ''), t0 - 60_000))
      .filter((v) => Number.isFinite(v) && v >= 0);
    if (ms.length > 0) this.loadMs.set(model, Math.max(...ms));
  }

  /** Called when a backend is disposed: the owner takes the service down (or back to its predecessor). */
  private async release(backend: SwarmBackend): Promise<void> {
    this.disposed.add(backend);
    const model = backend.model;
    if (this.owners.get(model) !== backend) return;
    const predecessor = this.predecessors.get(backend);
    const swarm = await this.swarm();
    if (predecessor && !this.disposed.has(predecessor)) {
      // Switched in never: the version it replaced still serves, so the service goes back to it.
      const existing = await swarm.inspect(backend.serviceId);
      if (existing) {
        const spec = { ...existing.Spec, Labels: { ...existing.Spec.Labels, [SWARM_LABEL_VERSION]: predecessor.version } } as Record<string, unknown>;
        const template = existing.Spec.TaskTemplate;
        spec['TaskTemplate'] = { ...template, ContainerSpec: { ...template.ContainerSpec, Image: predecessor.imageId, Labels: { ...template.ContainerSpec.Labels, [SWARM_LABEL_VERSION]: predecessor.version } } };
        await this.update(swarm, existing, spec, { name: model, version: predecessor.version, type: predecessor.type, imageId: predecessor.imageId, replicas: null, newReplicas: () => this.config.swarm_replicas }, backend.version, existing.Spec.Mode.Replicated?.Replicas ?? 1).catch((err: unknown) => {
          process.stderr.write(`warning: could not put ${backend.serviceName} back to ${predecessor.version}: ${toFramewormError(err).message}\n`);
        });
      }
      this.owners.set(model, predecessor);
      return;
    }
    this.owners.delete(model);
    await swarm.remove(backend.serviceId, (this.config.request_timeout_ms + 10_000));
  }

  /** The service's replicas, tasks (with their containers' health) and update state; never throws. */
  private async state(backend: SwarmBackend): Promise<SwarmStateView> {
    const base = { service: backend.serviceName, service_id: backend.serviceId, image_id: backend.imageId };
    try {
      const swarm = await this.swarm();
      const s = await swarm.inspect(backend.serviceId);
      if (!s) return { ...base, version: null, replicas: 0, running: 0, update: null, update_order: '', tasks: [], error: 'the service is gone' };
      const tasks = (await swarm.tasks(backend.serviceId))
        .filter((t) => t.DesiredState === 'running' || t.Status.State === 'running' || t.Status.State === 'starting')
        .sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0));
      const views: SwarmTaskView[] = [];
      for (const t of tasks) {
        const container = t.Status.ContainerStatus?.ContainerID ?? null;
        views.push({
          id: t.ID, slot: t.Slot ?? 0, state: t.Status.State, desired_state: t.DesiredState,
          health: container ? await swarm.containerHealth(container) : 'unknown',
          version: versionOf(t), port: backend.portBase + (t.Slot ?? 0), container_id: container, error: t.Status.Err ?? null,
        });
      }
      const u = s.UpdateStatus;
      return {
        ...base,
        image_id: s.Spec.TaskTemplate.ContainerSpec.Image,
        version: s.Spec.Labels?.[SWARM_LABEL_VERSION] ?? null,
        replicas: s.Spec.Mode.Replicated?.Replicas ?? 0,
        running: views.filter((v) => v.state === 'running' && v.desired_state === 'running').length,
        update: u?.State ? { state: u.State, message: u.Message ?? '', started_at: u.StartedAt ?? null, completed_at: u.CompletedAt ?? null } : null,
        update_order: s.Spec.UpdateConfig?.Order ?? '',
        tasks: views,
      };
    } catch (err) {
      return { ...base, version: null, replicas: 0, running: 0, update: null, update_order: '', tasks: [], error: toFramewormError(err).message };
    }
  }

  /**
   * A block of ports for a new service: base + 1 … base + MAX_SWARM_REPLICAS, none used by
   * another service's block and all free on this machine now. Starts at a place derived from
   * the workspace and model, so a service usually gets the same block back.
   */
  private async allocatePortBase(swarm: SwarmClient, name: string): Promise<number> {
    const taken = new Set<number>();
    const all = (await swarm.docker.listServices().catch(() => [])) as unknown as ServiceInfo[];
    for (const s of all) {
      const b = Number(s.Spec.Labels?.[SWARM_LABEL_PORT_BASE]);
      if (Number.isInteger(b)) taken.add(b);
    }
    const base = await allocatePortBlock(TASK_HOST, PORT_BLOCKS, MAX_SWARM_REPLICAS, `${this.docker.workspaceId}/${name}`, taken);
    if (base === null) throw new FramewormError('E_PORT_IN_USE', `no free block of ${MAX_SWARM_REPLICAS} ports from ${PORT_BLOCKS.start} for the swarm tasks of ${name}`);
    return base;
  }
}

/** K from 1 to MAX_SWARM_REPLICAS; 0 is `deploy stop`. */
export function checkReplicas(replicas: number, what: string): void {
  if (replicas === 0) throw new FramewormError('E_USAGE', `${what} 0 would stop serving: use frameworm deploy stop --name NAME to stop a deployment`);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_SWARM_REPLICAS) {
    throw new FramewormError('E_USAGE', `${what} must be an integer from 1 to ${MAX_SWARM_REPLICAS} (the most replicas one service may run here; got ${replicas})`);
  }
}

function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function versionOf(t: TaskInfo): string | null {
  return t.Spec.ContainerSpec?.Labels?.[SWARM_LABEL_VERSION] ?? null;
}

function modelOfTasks(tasks: readonly TaskInfo[]): string | null {
  for (const t of tasks) {
    const m = t.Spec.ContainerSpec?.Labels?.[SWARM_LABEL_MODEL];
    if (m) return m;
  }
  return null;
}

/** The timing a spec was made with (read back from it). */
function timingOf(spec: Record<string, unknown>): SwarmTiming {
  const S = 1e9;
  const t = spec['TaskTemplate'] as { ContainerSpec?: { Healthcheck?: { StartPeriod?: number }; StopGracePeriod?: number } } | undefined;
  const u = spec['UpdateConfig'] as { Monitor?: number } | undefined;
  return {
    startPeriodS: (t?.ContainerSpec?.Healthcheck?.StartPeriod ?? 180 * S) / S,
    monitorS: (u?.Monitor ?? 10 * S) / S,
    stopGraceS: (t?.ContainerSpec?.StopGracePeriod ?? 30 * S) / S,
  };
}
