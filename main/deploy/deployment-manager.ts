import fs from 'node:fs';
import path from 'node:path';
import type {
  ContainerStateView,
  DeployStartArgs,
  DeployStartResult,
  DeploymentStatus,
  DeploymentSummary,
  ProgressEvent,
  PromoteArgs,
  PromoteResult,
  RollbackArgs,
  RollbackResult,
  StopResult,
} from '../../preload/contract.js';
import { FramewormError, toFramewormError } from '../common/errors.js';
import { isStage, type Target } from '../common/types.js';
import type { DeployConfig } from '../config/deploy-config.js';
import { configSnapshot } from '../config/deploy-config.js';
import { inspectModelFile } from '../inspect/inspect.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import { ContainerBackend } from '../docker/container-backend.js';
import type { Backend } from '../serving/stable-endpoint.js';
import { StableEndpoint } from '../serving/stable-endpoint.js';
import { assertModelName, assertVersionName, workspaceGitCommit, type Workspace } from '../workspace/workspace.js';
import { artifactHashes } from '../export/manifest.js';
import { prepareArtifacts } from '../export/prepare-artifacts.js';
import { allocatePort } from './port-allocator.js';
import { epochOf, removeIfEmpty, resolveType, toView, trainingMetricsOf } from './deploy-support.js';
import { DockerTarget, type VersionImage } from './docker-target.js';
import { KeyedMutex } from './keyed-mutex.js';
import { VersionLoader } from './version-loader.js';

type Progress = (event: ProgressEvent) => void;

interface LiveDeployment {
  readonly endpoint: StableEndpoint;
  readonly port: number;
  backend: Backend | null;
}

/**
 * Owns what is served for a workspace: registers versions, places their artifacts, loads them
 * behind each deployment's stable endpoint, and switches versions (promote, rollback, stop)
 * without dropping requests. Operations on one deployment name run one at a time.
 */
export class DeploymentManager {
  private readonly live = new Map<string, LiveDeployment>();
  private readonly mutex = new KeyedMutex();
  /** The docker target (images and containers of this workspace). */
  readonly docker: DockerTarget;
  private readonly loader: VersionLoader;

  constructor(
    private readonly workspace: Workspace,
    private readonly config: DeployConfig,
    private readonly registry: Registry,
  ) {
    this.docker = new DockerTarget(workspace, config);
    this.loader = new VersionLoader(workspace, config, registry, this.docker);
  }

  /** `deploy start`: inspect, register, export, (docker) build, and (for production) serve behind the stable endpoint. */
  start(args: DeployStartArgs, progress: Progress = () => {}, signal?: AbortSignal): Promise<DeployStartResult> {
    assertModelName(args.name);
    if (args.version !== undefined) assertVersionName(args.version);
    return this.mutex.run(args.name, () => this.startLocked(args, progress, signal));
  }

  private async startLocked(args: DeployStartArgs, progress: Progress, signal?: AbortSignal): Promise<DeployStartResult> {
    const target: Target = args.target ?? (args.buildDocker ? 'docker' : 'embedded');
    if (target === 'swarm') {
      throw new FramewormError('E_USAGE', `target 'swarm' is not available in this build; use --target embedded or --target docker`);
    }
    if (args.buildDocker && target !== 'docker') throw new FramewormError('E_USAGE', `--build-docker contradicts --target ${target}`);
    if (args.baseImage !== undefined && target !== 'docker') throw new FramewormError('E_USAGE', '--base-image applies to the docker target only (add --build-docker)');
    if (args.shift) throw new FramewormError('E_USAGE', '--shift (drift profiles) is not available in this build');
    const stage = args.stage ?? this.config.default_stage;
    if (args.port !== undefined) this.checkPortChange(args.name, args.port);
    // A dead daemon is reported before anything is exported or built.
    if (target === 'docker') await this.docker.connect();

    progress({ step: 'inspect', message: `inspecting ${args.model}`, value: 0.1 });
    const report = await inspectModelFile(args.model);
    if (report.format !== 'onnx' && report.type === 'generic') {
      throw new FramewormError('E_INPUT', `${args.model} holds no FRAMEWORM model: ${report.reason ?? 'unknown weights'}; deploy an ONNX export of it instead`);
    }
    const type = resolveType(args.type ?? 'auto', report.type, args.model);

    const version = args.version ?? this.nextVersion(args.name);
    if (this.registry.getVersion(args.name, version)) {
      throw new FramewormError('E_CONFLICT', `model ${args.name} already has version ${version}`);
    }
    // Everything that can fail (export, load, port) happens before the registry is touched, so
    // a failed deploy leaves the registry and the event log exactly as they were.
    const exportDir = this.workspace.exportDir(args.name, version);
    let backend: Backend | null = null;
    let image: VersionImage | null = null;
    let registered = false;
    try {
      // The stable endpoint opens first: a taken --port fails in a second, not after a build.
      const live: LiveDeployment | null = stage === 'production' ? await this.ensureEndpoint(args.name, args.port) : null;
      progress({ step: 'export', message: `placing the model in ${path.relative(this.workspace.root, exportDir)}`, value: 0.3 });
      const prepared = await prepareArtifacts({
        report,
        source: args.model,
        exportDir,
        type,
        pythonPath: this.config.python_path,
        quantize: args.quantize ? 'required' : this.config.quantize ? 'preferred' : 'no',
        ...(args.imageSize !== undefined ? { imageSize: args.imageSize } : {}),
        progress,
      });
      const { manifest, modelPath } = prepared;
      const gitCommit = workspaceGitCommit(this.workspace.root);
      if (target === 'docker') {
        image = await this.docker.build(
          {
            name: args.name,
            version,
            type,
            exportDir,
            ...(args.baseImage !== undefined ? { baseImage: args.baseImage } : {}),
            ...(live ? { composePort: live.port } : {}),
            lineage: { checkpoint_sha256: report.sha256, git_commit: gitCommit },
          },
          progress,
          signal,
        );
        progress({ step: 'build', message: `built ${image.tag} (${image.id.slice(7, 19)}, ${Math.round(image.sizeBytes / 1e6)} MB) in ${image.buildSeconds.toFixed(1)} s`, value: 0.55 });
      }
      if (live) {
        if (image) {
          backend = await this.docker.run({ name: args.name, version, type, image }, progress, signal);
        } else {
          progress({ step: 'load', message: `loading ${version} into the embedded runtime`, value: 0.5 });
          backend = await this.loader.loadEmbedded(args.name, version, type, modelPath);
        }
      }

      progress({ step: 'register', message: `registering ${args.name} ${version}`, value: 0.8 });
      const actor = args.actor ?? 'cli';
      this.registry.registerVersion({
        name: args.name,
        version,
        type,
        target,
        artifacts: image ? { ...prepared.files, image: image.tag, base_image: image.baseImage } : prepared.files,
        lineage: {
          checkpoint_sha256: report.sha256,
          source_path: path.resolve(args.model),
          git_commit: gitCommit,
          config_snapshot: configSnapshot(this.config),
          hyper_parameters: report.hyper_parameters,
          training_metrics: trainingMetricsOf(report),
          epoch: epochOf(report),
          dataset_checksum: null,
          artifact_hashes: artifactHashes(manifest),
          image_digest: image?.id ?? null,
        },
        actor,
      });
      registered = true;

      if (!live || !backend) {
        this.closeIdleEndpoint(args.name);
        this.registry.promote(args.name, version, 'staging', { actor, reason: 'deploy start --stage staging' });
        this.registry.recordEvent(args.name, 'deploy', { version, type, target, stage: 'staging', endpoint: null });
        if (image) this.docker.publishGenerated(args.name, image);
        return { name: args.name, version, type, target, stage: 'staging', endpoint: this.endpointUrl(args.name), archived_version: null, export_dir: exportDir };
      }
      const { archived } = this.registry.promote(args.name, version, 'production', { actor, reason: 'deploy start' });
      await this.switchTo(live, backend);
      backend = null;
      this.registry.setEndpoint(args.name, { port: live.port, target });
      const endpoint = this.urlFor(live.port);
      this.registry.recordEvent(args.name, 'deploy', { version, type, target, stage: 'production', endpoint, archived_version: archived?.version ?? null });
      if (image) this.docker.publishGenerated(args.name, image);
      progress({ step: 'ready', message: `${args.name} ${version} is ready at ${endpoint}`, value: 1 });
      return { name: args.name, version, type, target, stage: 'production', endpoint, archived_version: archived?.version ?? null, export_dir: exportDir };
    } catch (err) {
      // A failed deploy leaves nothing registered and nothing half-made on disk.
      if (backend) await backend.dispose().catch(() => {});
      if (image) {
        await this.docker.removeImage(image.id);
        this.docker.discardGenerated(args.name, image);
      }
      this.closeIdleEndpoint(args.name);
      if (registered) this.registry.deleteVersion(args.name, version);
      fs.rmSync(exportDir, { recursive: true, force: true });
      removeIfEmpty(path.dirname(exportDir));
      throw toFramewormError(err);
    }
  }

  /** The next free `v<N>` label of a model. */
  private nextVersion(name: string): string {
    if (!this.registry.getModel(name)) return 'v1';
    const numbers = this.registry
      .listVersions(name)
      .map((v) => /^v(\d+)$/.exec(v.version)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number);
    return `v${Math.max(0, ...numbers) + 1}`;
  }

  /** `deploy promote`: moves a version between stages; production switches traffic to it. */
  promote(args: PromoteArgs, progress: Progress = () => {}, signal?: AbortSignal): Promise<PromoteResult> {
    assertModelName(args.name);
    if (!isStage(args.stage)) throw new FramewormError('E_USAGE', `--stage must be one of dev, staging, production, archived (got "${String(args.stage)}")`);
    return this.mutex.run(args.name, async () => {
      const target = this.requireVersion(args.name, args.version);
      const opts = { actor: args.actor ?? 'cli', reason: args.reason ?? `promote to ${args.stage}` };
      if (args.stage === 'production' && target.stage !== 'production') {
        // Validate the transition before paying for a load; the registry re-checks atomically.
        if (target.stage === 'archived') {
          throw new FramewormError('E_CONFLICT', `${args.name} ${args.version} is archived: archived → production is only allowed by a rollback (frameworm deploy rollback --name ${args.name})`);
        }
        const backend = await this.loader.load(target, progress, signal);
        let live: LiveDeployment;
        let archived: VersionRecord | null;
        try {
          live = await this.ensureEndpoint(args.name);
          ({ archived } = this.registry.promote(args.name, args.version, 'production', opts));
        } catch (err) {
          await backend.dispose().catch(() => {});
          this.closeIdleEndpoint(args.name);
          throw err;
        }
        await this.switchTo(live, backend);
        this.registry.setEndpoint(args.name, { port: live.port, target: target.target });
        return { name: args.name, version: args.version, stage: 'production', archived_version: archived?.version ?? null, endpoint: this.urlFor(live.port) };
      }
      const { archived } = this.registry.promote(args.name, args.version, args.stage, opts);
      const live = this.live.get(args.name);
      if (live?.backend?.version === args.version && args.stage !== 'production') await this.stopServing(args.name);
      return { name: args.name, version: args.version, stage: args.stage, archived_version: archived?.version ?? null, endpoint: this.endpointUrl(args.name) };
    });
  }

  /** `deploy rollback`: brings the previous production version back behind the same endpoint. */
  rollback(args: RollbackArgs, progress: Progress = () => {}, signal?: AbortSignal): Promise<RollbackResult> {
    assertModelName(args.name);
    return this.mutex.run(args.name, async () => {
      const reason = args.reason ?? 'manual rollback';
      const current = this.registry.getProduction(args.name);
      const to = this.registry.rollbackTarget(args.name);
      const metrics = this.live.get(args.name)?.endpoint.snapshot() ?? null;
      const base = { from_version: current?.version ?? null, reason, p95_ms: metrics?.p95_ms ?? null, error_rate: metrics?.error_rate ?? null };
      if (!to) {
        throw new FramewormError('E_CONFLICT', `${args.name} has no earlier production version to roll back to`);
      }
      let backend: Backend | null = null;
      try {
        // The version rolled back to is up (container healthy / model warmed) before the current one goes down.
        progress({ step: 'load', message: `loading ${to.version}`, value: 0.3 });
        backend = await this.loader.load(to, progress, signal);
        const live = await this.ensureEndpoint(args.name);
        this.registry.rollback(args.name, { reason, actor: args.actor ?? 'cli', toVersion: to.version });
        progress({ step: 'switch', message: `switching traffic to ${to.version}`, value: 0.8 });
        await this.switchTo(live, backend);
        backend = null;
        this.registry.setEndpoint(args.name, { port: live.port, target: to.target });
        this.registry.recordEvent(args.name, 'rollback', { ...base, to_version: to.version, success: true });
        return { name: args.name, from_version: current?.version ?? null, to_version: to.version, endpoint: this.urlFor(live.port), reason };
      } catch (err) {
        if (backend) await backend.dispose().catch(() => {});
        const e = toFramewormError(err);
        this.registry.recordEvent(args.name, 'rollback', { ...base, to_version: to.version, success: false, error: e.message });
        throw new FramewormError(e.code, `rollback of ${args.name} to ${to.version} failed: ${e.message}`, e.detail);
      }
    });
  }

  /** `deploy stop`: stops serving and archives the production version. */
  stop(args: { name: string; reason?: string; actor?: string }): Promise<StopResult> {
    assertModelName(args.name);
    return this.mutex.run(args.name, async () => {
      this.registry.requireModel(args.name);
      const production = this.registry.getProduction(args.name);
      const wasServing = this.live.has(args.name);
      await this.stopServing(args.name);
      if (production) {
        this.registry.promote(args.name, production.version, 'archived', { actor: args.actor ?? 'cli', reason: args.reason ?? 'deploy stop' });
      }
      if (!production && !wasServing) throw new FramewormError('E_CONFLICT', `${args.name} is not deployed: nothing to stop`);
      this.registry.recordEvent(args.name, 'stop', { version: production?.version ?? null, reason: args.reason ?? 'deploy stop' });
      return { name: args.name, stopped_version: production?.version ?? null, archived: production !== null };
    });
  }

  async status(name: string): Promise<DeploymentStatus> {
    assertModelName(name);
    const model = this.registry.requireModel(name);
    const live = this.live.get(name);
    const container: ContainerStateView | null = live?.backend instanceof ContainerBackend ? await live.backend.state() : null;
    return {
      name,
      endpoint: this.endpointUrl(name),
      serving: Boolean(live?.backend),
      serving_version: live?.backend?.version ?? null,
      production: this.registry.getProduction(name)?.version ?? null,
      target: model.target,
      versions: this.registry.listVersions(name).map(toView),
      metrics: live ? live.endpoint.snapshot() : null,
      container,
    };
  }

  list(): DeploymentSummary[] {
    return this.registry.listModels().map((m) => {
      const live = this.live.get(m.name);
      return { name: m.name, production: m.production, versions: m.versions, endpoint: this.endpointUrl(m.name), serving: Boolean(live?.backend), target: m.target };
    });
  }

  get servingCount(): number {
    return [...this.live.values()].filter((l) => l.backend).length;
  }

  /** Brings back what the registry says was in production (agent start). Failures are logged, not fatal. */
  async restore(log: (line: string) => void): Promise<void> {
    const models = this.registry.listModels();
    if (models.some((m) => m.production && this.registry.getVersion(m.name, m.production)?.target === 'docker')) {
      // Containers a crashed agent left behind are replaced, not adopted: their state is unknown.
      try {
        const removed = await this.docker.removeOrphans(new Set());
        if (removed > 0) log(`removed ${removed} container(s) left by an earlier agent`);
      } catch (err) {
        log(`cannot clean up old containers: ${toFramewormError(err).message}`);
      }
    }
    for (const model of models) {
      const production = model.production ? this.registry.getVersion(model.name, model.production) : null;
      if (!production || (production.target !== 'embedded' && production.target !== 'docker')) continue;
      try {
        await this.mutex.run(model.name, async () => {
          const backend = await this.loader.load(production, () => {});
          const live = await this.ensureEndpoint(model.name).catch(async (err: unknown) => {
            await backend.dispose();
            throw err;
          });
          await this.switchTo(live, backend);
        });
        this.registry.recordEvent(model.name, 'restore', { version: production.version, endpoint: this.endpointUrl(model.name) });
        log(`restored ${model.name} ${production.version} at ${this.endpointUrl(model.name) ?? '?'}`);
      } catch (err) {
        const e = toFramewormError(err);
        this.registry.recordEvent(model.name, 'restore_failed', { version: production.version, error: e.message });
        log(`could not restore ${model.name} ${production.version}: ${e.message}`);
      }
    }
  }

  /** Closes every endpoint and releases every loaded model. */
  async dispose(): Promise<void> {
    for (const name of [...this.live.keys()]) await this.stopServing(name);
  }

  private async ensureEndpoint(name: string, requestedPort?: number): Promise<LiveDeployment> {
    const existing = this.live.get(name);
    if (existing) return existing;
    const model = this.registry.getModel(name);
    const claimed = new Set(this.registry.listModels().filter((m) => m.name !== name && m.endpoint_port !== null).map((m) => m.endpoint_port as number));
    const fixed = requestedPort ?? model?.endpoint_port ?? null;
    let endpoint: StableEndpoint | null = null;
    // A free port can be taken between the probe and the listen (another agent, another
    // program); an auto-allocated port is then re-picked, a fixed one is an error.
    for (let attempt = 0; endpoint === null; attempt++) {
      const port = fixed ?? (await allocatePort(this.config.host, this.config.port_range_start, claimed));
      const candidate = new StableEndpoint({
        name,
        host: this.config.host,
        port,
        maxBodyBytes: this.config.max_body_bytes,
        requestTimeoutMs: this.config.request_timeout_ms,
        recorder: { windowS: this.config.metrics_window_s },
      });
      try {
        await candidate.listen();
        endpoint = candidate;
      } catch (err) {
        if (fixed !== null || attempt >= 5 || toFramewormError(err).code !== 'E_PORT_IN_USE') throw err;
        claimed.add(port);
      }
    }
    const live: LiveDeployment = { endpoint, port: endpoint.port, backend: null };
    this.live.set(name, live);
    return live;
  }

  private async switchTo(live: LiveDeployment, backend: Backend): Promise<void> {
    const old = await live.endpoint.switchBackend(backend);
    live.backend = backend;
    if (old && old !== backend) {
      await old.drain();
      await old.dispose();
    }
  }

  private async stopServing(name: string): Promise<void> {
    const live = this.live.get(name);
    if (!live) return;
    this.live.delete(name);
    const old = await live.endpoint.switchBackend(null);
    await live.endpoint.close();
    if (old) {
      await old.drain();
      await old.dispose();
    }
  }

  private closeIdleEndpoint(name: string): void {
    const live = this.live.get(name);
    if (live && !live.backend) {
      this.live.delete(name);
      void live.endpoint.close();
    }
  }

  private checkPortChange(name: string, port: number): void {
    const live = this.live.get(name);
    if (live && live.port !== port) {
      throw new FramewormError('E_CONFLICT', `${name} already serves on port ${live.port}; stop it before moving it to port ${port}`);
    }
  }

  private requireVersion(name: string, version: string): VersionRecord {
    assertVersionName(version);
    const record = this.registry.getVersion(name, version);
    if (!record) {
      this.registry.requireModel(name);
      const known = this.registry.listVersions(name).map((v) => v.version);
      throw new FramewormError('E_NOT_FOUND', `${name} has no version ${version} (versions: ${known.join(', ') || 'none'})`);
    }
    return record;
  }

  private urlFor(port: number): string {
    return `http://${this.config.host}:${port}`;
  }

  private endpointUrl(name: string): string | null {
    const live = this.live.get(name);
    if (live) return this.urlFor(live.port);
    const port = this.registry.getModel(name)?.endpoint_port;
    return port ? this.urlFor(port) : null;
  }
}
