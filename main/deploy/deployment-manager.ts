import fs from 'node:fs';
import path from 'node:path';
import type {
  DrillArgs,
  DrillResult,
  DeployStartArgs,
  DeployStartResult,
  DeploymentStatus,
  DeploymentSummary,
  ProgressEvent,
  PromoteArgs,
  PromoteResult,
  RestoreFailure,
  RollbackArgs,
  RollbackResult,
  ScaleArgs,
  ScaleResult,
  StopResult,
} from '../../preload/contract.js';
import { FramewormError, toFramewormError } from '../common/errors.js';
import { isStage, type Target } from '../common/types.js';
import type { DeployConfig } from '../config/deploy-config.js';
import { configSnapshot } from '../config/deploy-config.js';
import { inspectModelFile } from '../inspect/inspect.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import { assertImageableName } from '../docker/image-names.js';
import type { Backend } from '../serving/stable-endpoint.js';
import { StableEndpoint } from '../serving/stable-endpoint.js';
import { readProbeSpec, type ProbeSpec } from '../serving/probe-requests.js';
import type { IntervalMeasurement } from '../metrics/interval-sample.js';
import type { JsonObject } from '../common/json.js';
import { WATCHER_ACTOR } from '../watch/rollback-watcher.js';
import { assertModelName, assertVersionName, workspaceGitCommit, type Workspace } from '../workspace/workspace.js';
import { artifactHashes } from '../common/export-manifest.js';
import { prepareArtifacts } from '../export/prepare-artifacts.js';
import { allocatePort } from './port-allocator.js';
import { epochOf, removeIfEmpty, resolveType, toView, trainingMetricsOf } from './deploy-support.js';
import { DockerTarget } from './docker-target.js';
import { datasetChecksum, normalizeDatasetChecksum } from './dataset-checksum.js';
import { KeyedMutex } from './keyed-mutex.js';
import { inFlightMarker, reconcileRollbacks, removeUnfinishedExports } from './crash-recovery.js';
import { checkProfileArchitecture, readProfile } from '../drift/profile/shift-profile.js';
import { testPause } from '../common/test-pause.js';
import { DockerDeploymentTarget } from './targets/docker.js';
import { EmbeddedTarget } from './targets/embedded.js';
import { SwarmDeploymentTarget, checkReplicas } from './targets/swarm.js';
import { TargetTable, rolledBackReason, type PreparedVersion } from './targets/target.js';

type Progress = (event: ProgressEvent) => void;


interface LiveDeployment {
  readonly name: string;
  readonly endpoint: StableEndpoint;
  readonly port: number;
  backend: Backend | null;
  /** The previous production version, still loaded, for an instant rollback (warm_standby). */
  standby: Backend | null;
  /** What synthetic probes of the serving version send (read once per version). */
  probeSpec?: { readonly version: string; readonly spec: ProbeSpec };
}

/** Values measured by the watcher, recorded with an automatic rollback instead of the endpoint's window. */
export interface RollbackMeasurements {
  readonly p95_ms: number | null;
  readonly error_rate: number | null;
  readonly streak?: number;
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
  /** Where versions run, one implementation per target (targets/). */
  readonly targets: TargetTable;
  /** Receives each successful user request and its answer (drift monitoring); set by the host. */
  sampleSink: ((name: string, sample: { version: string; request: unknown; response: unknown }) => void) | null = null;
  /** Told when a deployment's drift profile changes. */
  onShiftChanged: ((name: string) => void) | null = null;
  /** Per deployment name: what went wrong after a change committed, for the current operation's result. */
  private readonly warnings = new Map<string, string[]>();
  private readonly unsubscribeLog: () => void;

  constructor(
    private readonly workspace: Workspace,
    private readonly config: DeployConfig,
    private readonly registry: Registry,
  ) {
    // Self-healing: a lost container is replaced by one of the same version (docker-target.ts).
    this.docker = new DockerTarget(workspace, config, {
      recordEvent: (name, event, fields) => void registry.recordEvent(name, event, fields),
      serving: (name, backend) => this.live.get(name)?.backend === backend,
      replace: (name, lost) => this.replaceLost(name, lost),
    });
    this.targets = new TargetTable([new EmbeddedTarget(workspace, config), new DockerDeploymentTarget(workspace, registry, this.docker), new SwarmDeploymentTarget(workspace, config, registry, this.docker)]);
    // Operations on one name run one at a time, so a failure heard for a name belongs to the
    // operation running on it; the agent log gets it too.
    this.unsubscribeLog = registry.onLogFailure((f) => {
      const list = this.warnings.get(f.model) ?? [];
      list.push(f.message);
      this.warnings.set(f.model, list);
      process.stderr.write(`warning: ${f.message}\n`);
    });
  }

  /** Runs one operation on a deployment under its lock, attaching the warnings it caused to its result. */
  private locked<T extends object>(name: string, fn: () => Promise<T>): Promise<T & { warnings?: readonly string[] }> {
    return this.mutex.run(name, async () => {
      this.warnings.delete(name);
      try {
        const result = await fn();
        const warnings = this.warnings.get(name);
        return warnings && warnings.length > 0 ? { ...result, warnings } : result;
      } finally {
        this.warnings.delete(name);
      }
    });
  }

  /** `deploy start`: inspect, register, export, (docker) build, and (for production) serve behind the stable endpoint. */
  start(args: DeployStartArgs, progress: Progress = () => {}, signal?: AbortSignal): Promise<DeployStartResult> {
    assertModelName(args.name);
    assertImageableName(args.name);
    if (args.version !== undefined) assertVersionName(args.version);
    return this.locked(args.name, () => this.startLocked(args, progress, signal));
  }

  private async startLocked(args: DeployStartArgs, progress: Progress, signal?: AbortSignal): Promise<DeployStartResult> {
    const target: Target = args.target ?? (args.buildDocker ? 'docker' : 'embedded');
    if (args.buildDocker && target !== 'docker') throw new FramewormError('E_USAGE', `--build-docker contradicts --target ${target}`);
    const runner = this.targets.get(target);
    runner.validate(args);
    if (args.dataset !== undefined && args.datasetChecksum !== undefined) {
      throw new FramewormError('E_USAGE', '--dataset and --dataset-checksum are alternatives: give one');
    }
    const givenChecksum = args.datasetChecksum !== undefined ? normalizeDatasetChecksum(args.datasetChecksum) : null;
    const stage = args.stage ?? this.config.default_stage;
    if (args.port !== undefined) this.checkPortChange(args.name, args.port);
    await runner.preflight();

    progress({ step: 'inspect', message: `inspecting ${args.model}`, value: 0.1 });
    const report = await inspectModelFile(args.model);
    if (report.format !== 'onnx' && report.type === 'generic') {
      throw new FramewormError('E_INPUT', `${args.model} holds no FRAMEWORM model: ${report.reason ?? 'unknown weights'}; deploy an ONNX export of it instead`);
    }
    const type = resolveType(args.type ?? 'auto', report.type, args.model);
    // A drift profile must fit the model before anything is exported (missing, corrupt, another
    // architecture: a clear error, nothing deployed).
    if (args.shift !== undefined) checkProfileArchitecture(readProfile(this.workspace.root, args.shift), type);
    let datasetSha = givenChecksum;
    if (args.dataset !== undefined) {
      const dataset = args.dataset;
      progress({ step: 'dataset', message: `hashing dataset ${dataset}`, value: 0.12 });
      let lastPct = -1;
      const sum = await datasetChecksum(dataset, (done, total) => {
        const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
        if (pct >= lastPct + 5) {
          lastPct = pct;
          progress({ step: 'dataset', message: `hashing dataset ${dataset}: ${pct} %`, value: 0.12 + 0.08 * (pct / 100) });
        }
      }, signal);
      datasetSha = sum.sha256;
      progress({ step: 'dataset', message: `dataset sha256 ${sum.sha256.slice(0, 12)}… (${sum.files} file(s), ${sum.bytes} bytes)`, value: 0.2 });
    }

    const version = args.version ?? this.nextVersion(args.name);
    if (this.registry.getVersion(args.name, version)) {
      throw new FramewormError('E_CONFLICT', `model ${args.name} already has version ${version}`);
    }
    // Everything that can fail (export, load, port) happens before the registry is touched, so
    // a failed deploy leaves the registry and the event log exactly as they were.
    const exportDir = this.workspace.exportDir(args.name, version);
    let backend: Backend | null = null;
    let built: PreparedVersion | null = null;
    /** Set once the registry change is committed: after that, failures are reported, never compensated. */
    let committed = false;
    try {
      // The stable endpoint opens first: a taken --port fails in a second, not after a build.
      const live: LiveDeployment | null = stage === 'production' ? await this.ensureEndpoint(args.name, args.port) : null;
      fs.mkdirSync(path.dirname(exportDir), { recursive: true });
      fs.writeFileSync(inFlightMarker(exportDir), `${process.pid}\n`);
      progress({ step: 'export', message: `placing the model in ${path.relative(this.workspace.root, exportDir)}`, value: 0.3 });
      const prepared = await prepareArtifacts({
        report,
        source: args.model,
        exportDir,
        type,
        pythonPath: this.config.python_path,
        quantize: args.quantize ? 'required' : this.config.quantize ? 'preferred' : 'no',
        ...(args.imageSize !== undefined ? { imageSize: args.imageSize } : {}),
        ...(signal ? { signal } : {}),
        progress,
      });
      const { manifest, modelPath } = prepared;
      const gitCommit = workspaceGitCommit(this.workspace.root);
      const ready = await runner.prepare(
        {
          name: args.name, version, type, exportDir, modelPath, args,
          port: live?.port ?? null,
          lineage: { checkpoint_sha256: report.sha256, git_commit: gitCommit, dataset_checksum: datasetSha },
        },
        progress,
        signal,
      );
      built = ready;
      if (live) {
        progress({ step: 'load', message: `starting ${version} on the ${target} target`, value: 0.6 });
        backend = await ready.load(progress, signal);
      }

      progress({ step: 'register', message: `registering ${args.name} ${version}`, value: 0.8 });
      const actor = args.actor ?? 'cli';
      const register = (): void => {
        this.registry.registerVersion({
          name: args.name,
          version,
          type,
          target,
          artifacts: { ...prepared.files, ...ready.artifacts },
          lineage: {
            checkpoint_sha256: report.sha256,
            source_path: path.resolve(args.model),
            git_commit: gitCommit,
            config_snapshot: configSnapshot(this.config),
            hyper_parameters: report.hyper_parameters,
            training_metrics: trainingMetricsOf(report),
            epoch: epochOf(report),
            dataset_checksum: datasetSha,
            artifact_hashes: artifactHashes(manifest),
            image_digest: null,
            ...ready.lineage,
          },
          actor,
        });
      };

      // Registration, promotion, endpoint and the `deploy` event are one transaction: a crash at
      // any point leaves either all of them or none (then the next agent removes the export).
      if (!live || !backend) {
        this.closeIdleEndpoint(args.name);
        this.registry.atomically(args.name, () => {
          register();
          this.registry.promote(args.name, version, 'staging', {
            actor,
            reason: 'deploy start --stage staging',
            events: [{ event: 'deploy', fields: { version, type, target, stage: 'staging', endpoint: null, dataset_checksum: datasetSha } }],
          });
        });
        committed = true;
        fs.rmSync(inFlightMarker(exportDir), { force: true });
        ready.commit();
        this.rememberShift(args);
        return { name: args.name, version, type, target, stage: 'staging', endpoint: this.endpointUrl(args.name), archived_version: null, export_dir: exportDir };
      }
      const endpoint = this.urlFor(live.port);
      const archivedBefore = this.registry.getProduction(args.name)?.version ?? null;
      const { archived } = this.registry.atomically(args.name, () => {
        register();
        return this.registry.promote(args.name, version, 'production', {
          actor,
          reason: 'deploy start',
          endpoint: { port: live.port, target },
          events: [{ event: 'deploy', fields: { version, type, target, stage: 'production', endpoint, archived_version: archivedBefore, dataset_checksum: datasetSha } }],
        });
      });
      committed = true;
      fs.rmSync(inFlightMarker(exportDir), { force: true });
      const serving = backend;
      backend = null;
      await this.switchTo(live, serving);
      ready.commit();
      this.rememberShift(args);
      progress({ step: 'ready', message: `${args.name} ${version} is ready at ${endpoint}`, value: 1 });
      return { name: args.name, version, type, target, stage: 'production', endpoint, archived_version: archived?.version ?? null, export_dir: exportDir };
    } catch (err) {
      if (committed) {
        const e = toFramewormError(err);
        throw new FramewormError(e.code, `${args.name} ${version} is registered as production, but switching traffic to it failed: ${e.message}`, e.detail);
      }
      // A failed deploy leaves nothing registered and nothing half-made on disk.
      if (backend) await backend.dispose().catch(() => {});
      if (built) await built.discard().catch(() => {});
      this.closeIdleEndpoint(args.name);
      fs.rmSync(exportDir, { recursive: true, force: true });
      fs.rmSync(inFlightMarker(exportDir), { force: true });
      removeIfEmpty(path.dirname(exportDir));
      throw toFramewormError(err);
    }
  }

  /** `--shift P`: the deployment's drift reference from now on (kept across its versions). */
  private rememberShift(args: DeployStartArgs): void {
    if (args.shift === undefined) return;
    const model = this.registry.getModel(args.name);
    if (!model || model.settings['shift_profile'] === args.shift) return;
    this.registry.setSettings(args.name, { ...model.settings, shift_profile: args.shift });
    this.onShiftChanged?.(args.name);
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
    return this.locked(args.name, async () => {
      const target = this.requireVersion(args.name, args.version);
      const opts = { actor: args.actor ?? 'cli', reason: args.reason ?? `promote to ${args.stage}` };
      if (args.stage === 'production' && target.stage !== 'production') {
        // Validate the transition before paying for a load; the registry re-checks atomically.
        if (target.stage === 'archived') {
          throw new FramewormError('E_CONFLICT', `${args.name} ${args.version} is archived: archived → production is only allowed by a rollback (frameworm deploy rollback --name ${args.name})`);
        }
        let backend: Backend;
        try {
          backend = await this.loadVersion(target, progress, signal);
        } catch (err) {
          // The platform rolled the update back (swarm: the new tasks never became healthy): a
          // failed promotion on record; the registry is unchanged and the previous version serves.
          const reason = rolledBackReason(err);
          if (reason !== null) this.recordSafely(args.name, 'promote', { version: args.version, stage: 'production', success: false, reason, from_version: this.registry.getProduction(args.name)?.version ?? null, actor: opts.actor });
          throw err;
        }
        let live: LiveDeployment;
        let archived: VersionRecord | null;
        try {
          live = await this.ensureEndpoint(args.name);
          ({ archived } = this.registry.promote(args.name, args.version, 'production', { ...opts, endpoint: { port: live.port, target: target.target } }));
        } catch (err) {
          await backend.dispose().catch(() => {});
          this.closeIdleEndpoint(args.name);
          throw err;
        }
        await this.switchTo(live, backend);
        return { name: args.name, version: args.version, stage: 'production', archived_version: archived?.version ?? null, endpoint: this.urlFor(live.port) };
      }
      const { archived } = this.registry.promote(args.name, args.version, args.stage, opts);
      const live = this.live.get(args.name);
      if (live?.backend?.version === args.version && args.stage !== 'production') await this.stopServing(args.name);
      return { name: args.name, version: args.version, stage: args.stage, archived_version: archived?.version ?? null, endpoint: this.endpointUrl(args.name) };
    });
  }

  /**
   * `deploy rollback` (and the watcher's automatic rollback): brings the previous production
   * version (or `to_version`) back behind the same endpoint. The intent is committed first
   * (`rollback_started`); the stage changes, endpoint and the `rollback` line then commit in one
   * transaction, after the version rolled back to is up; the old one drains and stops last. Every
   * `rollback_started` ends with a `rollback` line, success true or false (after a crash: at the
   * next agent start, see reconcileRollbacks).
   */
  rollback(args: RollbackArgs, progress: Progress = () => {}, signal?: AbortSignal, measured?: RollbackMeasurements): Promise<RollbackResult> {
    assertModelName(args.name);
    if (args.to_version !== undefined) assertVersionName(args.to_version);
    return this.locked(args.name, async () => {
      const reason = args.reason ?? 'manual rollback';
      const actor = args.actor ?? 'cli';
      const current = this.registry.getProduction(args.name);
      const to = args.to_version !== undefined ? this.requireVersion(args.name, args.to_version) : this.registry.rollbackTarget(args.name);
      if (!to) {
        throw new FramewormError('E_CONFLICT', `${args.name} has no earlier production version to roll back to`);
      }
      const metrics = this.live.get(args.name)?.endpoint.snapshot() ?? null;
      const base = {
        from_version: current?.version ?? null,
        to_version: to.version,
        reason,
        p95_ms: measured?.p95_ms ?? metrics?.p95_ms ?? null,
        error_rate: measured?.error_rate ?? metrics?.error_rate ?? null,
        actor,
        ...(measured?.streak !== undefined ? { streak: measured.streak } : {}),
      };
      this.registry.recordEvent(args.name, 'rollback_started', base);
      await testPause('rollback:started');
      let backend: Backend | null = null;
      let live: LiveDeployment;
      try {
        // The version rolled back to is up (container healthy / model warmed) before the current one goes down.
        progress({ step: 'load', message: `loading ${to.version}`, value: 0.3 });
        backend = this.takeStandby(args.name, to.version) ?? (await this.loadVersion(to, progress, signal));
        await testPause('rollback:loaded');
        live = await this.ensureEndpoint(args.name);
        // Stage changes, endpoint and the `rollback` event commit together (DESIGN §7's JSONL line).
        this.registry.rollback(args.name, {
          reason,
          actor,
          toVersion: to.version,
          endpoint: { port: live.port, target: to.target },
          events: [{ event: 'rollback', fields: { ...base, success: true } }],
        });
      } catch (err) {
        if (backend) await backend.dispose().catch(() => {});
        const e = toFramewormError(err);
        this.recordSafely(args.name, 'rollback', { ...base, success: false, error: e.message });
        throw new FramewormError(e.code, `rollback of ${args.name} to ${to.version} failed: ${e.message}`, e.detail);
      }
      await testPause('rollback:committed');
      progress({ step: 'switch', message: `switching traffic to ${to.version}`, value: 0.8 });
      try {
        await this.switchTo(live, backend);
        await testPause('rollback:switched');
      } catch (err) {
        const e = toFramewormError(err);
        throw new FramewormError(e.code, `${args.name} ${to.version} is production in the registry, but switching traffic to it failed: ${e.message}`, e.detail);
      }
      return { name: args.name, from_version: current?.version ?? null, to_version: to.version, endpoint: this.urlFor(live.port), reason };
    });
  }

  /** Records an event when the registry takes it; a refused write (e.g. a deleted registry) must not hide the original error. */
  private recordSafely(name: string, event: string, fields: JsonObject): void {
    try {
      this.registry.recordEvent(name, event, fields);
    } catch (err) {
      process.stderr.write(`warning: could not record ${event} for ${name}: ${toFramewormError(err).message}\n`);
    }
  }

  /** `deploy stop`: stops serving and archives the production version. */
  stop(args: { name: string; reason?: string; actor?: string }): Promise<StopResult> {
    assertModelName(args.name);
    return this.locked(args.name, async () => {
      this.registry.requireModel(args.name);
      const production = this.registry.getProduction(args.name);
      const wasServing = this.live.has(args.name);
      if (!production && !wasServing) throw new FramewormError('E_CONFLICT', `${args.name} is not deployed: nothing to stop`);
      const reason = args.reason ?? 'deploy stop';
      const stopEvent = { event: 'stop', fields: { version: production?.version ?? null, reason } };
      // Registry first (with its `stop` event, in one transaction), then the endpoint: a refused
      // write (e.g. a deleted registry) leaves the deployment serving and says why.
      if (production) {
        this.registry.promote(args.name, production.version, 'archived', { actor: args.actor ?? 'cli', reason, events: [stopEvent] });
      } else {
        this.registry.recordEvent(args.name, stopEvent.event, stopEvent.fields);
      }
      await this.stopServing(args.name);
      return { name: args.name, stopped_version: production?.version ?? null, archived: production !== null };
    });
  }

  async status(name: string): Promise<DeploymentStatus> {
    assertModelName(name);
    const model = this.registry.requireModel(name);
    const live = this.live.get(name);
    const servingTarget = live?.backend ? this.registry.getVersion(name, live.backend.version)?.target : undefined;
    const container = live?.backend && servingTarget && this.targets.has(servingTarget) ? await this.targets.get(servingTarget).describe(live.backend) : null;
    return {
      name,
      endpoint: this.endpointUrl(name),
      serving: Boolean(live?.backend),
      serving_version: live?.backend?.version ?? null,
      production: this.registry.getProduction(name)?.version ?? null,
      target: model.target,
      versions: this.registry.listVersions(name).map(toView),
      metrics: live ? live.endpoint.snapshot() : null,
      drill: live?.endpoint.drill() ?? null,
      container,
      ...(live?.backend && servingTarget && this.targets.has(servingTarget) ? ((await this.targets.get(servingTarget).details?.(live.backend)) ?? {}) : {}),
    };
  }

  list(): DeploymentSummary[] {
    return this.registry.listModels().map((m) => {
      const live = this.live.get(m.name);
      return { name: m.name, production: m.production, versions: m.versions, endpoint: this.endpointUrl(m.name), serving: Boolean(live?.backend), target: m.target };
    });
  }

  /** `deploy scale`: changes how many replicas serve the production version (targets that replicate). */
  scale(args: ScaleArgs, progress: Progress = () => {}): Promise<ScaleResult> {
    assertModelName(args.name);
    checkReplicas(args.replicas, '--replicas');
    return this.locked(args.name, async () => {
      this.registry.requireModel(args.name);
      const live = this.live.get(args.name);
      const backend = live?.backend;
      const production = this.registry.getProduction(args.name);
      if (!backend || !production) throw new FramewormError('E_CONFLICT', `${args.name} is not serving a production version: nothing to scale`);
      const target = this.targets.get(production.target);
      if (!target.scale) throw new FramewormError('E_USAGE', `${args.name} runs on the ${production.target} target, which has one replica; deploy it with --target swarm to scale it`);
      const r = await target.scale(backend, args.replicas, progress);
      this.registry.recordEvent(args.name, 'scale', { version: r.version, from_replicas: r.from_replicas, replicas: r.replicas, running: r.running, actor: args.actor ?? 'cli' });
      return { name: args.name, ...r };
    });
  }

  get servingCount(): number {
    return [...this.live.values()].filter((l) => l.backend).length;
  }

  /** Brings back what the registry says was in production (agent start). Failures are logged, not fatal. */
  async restore(log: (line: string) => void): Promise<RestoreFailure[]> {
    const failures: RestoreFailure[] = [];
    // Events that committed while their JSONL line could not be written (full disk, a crash
    // between commit and append) reach the logs now.
    this.registry.flushAllLogs();
    const removedExports = removeUnfinishedExports(this.workspace, this.registry);
    if (removedExports.length > 0) log(`removed ${removedExports.length} partial export folder(s) of deploys that never committed: ${removedExports.join(', ')}`);
    const resume = reconcileRollbacks(this.registry, log);
    const models = this.registry.listModels();
    const productions = models
      .map((m) => (m.production ? this.registry.getVersion(m.name, m.production) : null))
      .filter((v): v is VersionRecord => v !== null);
    const isRegistered = (model: string, version: string): boolean => this.registry.getVersion(model, version) !== null;
    for (const t of this.targets.all()) {
      await t.cleanUp(isRegistered, productions.some((v) => v.target === t.kind), log);
    }
    for (const production of productions) {
      try {
        await this.mutex.run(production.name, async () => {
          const backend = await this.loadVersion(production, () => {});
          const live = await this.ensureEndpoint(production.name).catch(async (err: unknown) => {
            await backend.dispose();
            throw err;
          });
          await this.switchTo(live, backend);
        });
        this.registry.recordEvent(production.name, 'restore', { version: production.version, endpoint: this.endpointUrl(production.name) });
        log(`restored ${production.name} ${production.version} at ${this.endpointUrl(production.name) ?? '?'}`);
      } catch (err) {
        const e = toFramewormError(err);
        this.registry.recordEvent(production.name, 'restore_failed', { version: production.version, error: e.message });
        log(`could not restore ${production.name} ${production.version}: ${e.message}`);
        // Returned so the agent can report it (agent.info): `agent start` must not say all is well.
        failures.push({ name: production.name, version: production.version, port: this.registry.getModel(production.name)?.endpoint_port ?? null, code: e.code, message: e.message });
      }
    }
    // Automatic rollbacks a crash interrupted are carried out now: the breaching version is back
    // in production, and the watcher never starts a second automatic rollback for it.
    for (const r of resume) {
      try {
        await this.rollback({ name: r.name, reason: `${r.reason} (resumed after the control plane restarted)`, actor: WATCHER_ACTOR, to_version: r.to }, () => {}, undefined, {
          p95_ms: typeof r.fields['p95_ms'] === 'number' ? r.fields['p95_ms'] : null,
          error_rate: typeof r.fields['error_rate'] === 'number' ? r.fields['error_rate'] : null,
          ...(typeof r.fields['streak'] === 'number' ? { streak: r.fields['streak'] } : {}),
        });
        log(`${r.name}: resumed the interrupted automatic rollback to ${r.to}`);
      } catch (err) {
        log(`${r.name}: the interrupted automatic rollback to ${r.to} failed again: ${toFramewormError(err).message}`);
      }
    }
    return failures;
  }

  /**
   * `deploy drill`: injects latency and/or a seeded fraction of 5xx into the production version
   * at its stable endpoint (any target), until cleared, its duration ends, or that version leaves
   * production — so a rollback leaves the fault behind. Starts and ends are `drill` events.
   */
  drill(args: DrillArgs): Promise<DrillResult> {
    assertModelName(args.name);
    return this.locked(args.name, async () => {
      this.registry.requireModel(args.name);
      const live = this.live.get(args.name);
      if (args.clear) {
        const ended = live?.endpoint.clearDrill() ?? null;
        if (!ended) throw new FramewormError('E_CONFLICT', `${args.name} has no fault drill running`);
        return { name: args.name, action: 'cleared', drill: ended };
      }
      if (args.latency_ms === undefined && args.error_rate === undefined) {
        throw new FramewormError('E_USAGE', 'a drill needs --latency-ms or --error-rate (or --clear)');
      }
      const production = this.registry.getProduction(args.name);
      if (!production || !live?.backend) throw new FramewormError('E_CONFLICT', `${args.name} is not serving a production version: nothing to drill`);
      const state = live.endpoint.startDrill({
        version: production.version,
        ...(args.latency_ms !== undefined ? { latencyMs: args.latency_ms } : {}),
        ...(args.error_rate !== undefined ? { errorRate: args.error_rate } : {}),
        ...(args.duration_s !== undefined ? { durationMs: args.duration_s * 1000 } : {}),
        ...(args.seed !== undefined ? { seed: args.seed } : {}),
      });
      this.registry.recordEvent(args.name, 'drill', {
        version: state.version, action: 'start', latency_ms: state.latency_ms, error_rate: state.error_rate,
        duration_s: state.duration_ms === null ? null : state.duration_ms / 1000, seed: state.seed, actor: args.actor ?? 'cli',
      });
      return { name: args.name, action: 'start', drill: state };
    });
  }

  /** The watcher's per-check view of a deployment's current version; null when nothing serves it here. */
  takeInterval(name: string): IntervalMeasurement | null {
    return this.live.get(name)?.endpoint.takeInterval() ?? null;
  }

  /** Requests answered since the last takeInterval (for probe top-up). */
  intervalRequests(name: string): number {
    return this.live.get(name)?.endpoint.intervalRequests() ?? 0;
  }

  /**
   * Where to send synthetic probes for a deployment and what its serving version accepts, or
   * null when nothing serves it here. The spec is read from the version's export manifest.
   */
  probeTarget(name: string): { url: string; spec: ProbeSpec } | null {
    const live = this.live.get(name);
    const version = live?.backend?.version;
    if (!live || !version) return null;
    const cached = live.probeSpec;
    if (cached && cached.version === version) return { url: live.endpoint.url, spec: cached.spec };
    const record = this.registry.getVersion(name, version);
    if (!record) return null;
    const onnx = record.artifacts['onnx'];
    const spec = readProbeSpec(typeof onnx === 'string' ? onnx : path.join(this.workspace.exportDir(name, version), 'model.onnx'));
    live.probeSpec = { version, spec };
    return { url: live.endpoint.url, spec };
  }

  /** The live stable endpoint of a deployment, or null. */
  endpointOf(name: string): StableEndpoint | null {
    return this.live.get(name)?.endpoint ?? null;
  }

  /**
   * Self-healing hook of the docker target: replaces `lost` (a dead container still behind the
   * endpoint) by a fresh load of the same version. Null when `lost` no longer serves.
   */
  private replaceLost(name: string, lost: Backend): Promise<Backend | null> {
    return this.mutex.run(name, async () => {
      const live = this.live.get(name);
      const record = this.registry.getVersion(name, lost.version);
      if (!live || live.backend !== lost || !record) return null;
      const fresh = await this.loadVersion(record, () => {});
      if (this.live.get(name) !== live || live.backend !== lost) {
        await fresh.dispose();
        return null;
      }
      await this.switchTo(live, fresh);
      return fresh;
    });
  }

  /** Makes a registered version servable on its own target (never on another one). */
  private loadVersion(record: VersionRecord, progress: Progress, signal?: AbortSignal): Promise<Backend> {
    return this.targets.get(record.target).load(record, progress, signal);
  }

  /** Closes every endpoint and releases every loaded model. */
  async dispose(): Promise<void> {
    this.unsubscribeLog();
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
        maxConnections: this.config.max_connections,
        onSample: (sample) => this.sampleSink?.(name, sample),
        // A drill ends when cleared, when its duration is up, or when its version leaves production.
        onDrillEnded: (reason, drill) =>
          this.recordSafely(name, 'drill', {
            version: drill.version, action: reason, latency_ms: drill.latency_ms, error_rate: drill.error_rate,
            duration_s: drill.duration_ms === null ? null : drill.duration_ms / 1000, seed: drill.seed,
            requests: drill.requests, injected_errors: drill.injected_errors,
          }),
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
    const live: LiveDeployment = { name, endpoint, port: endpoint.port, backend: null, standby: null };
    this.live.set(name, live);
    return live;
  }

  /**
   * Switches the endpoint to `backend`, then drains the old one (up to request_timeout_ms) and
   * either keeps it as the warm standby (the version a rollback brings back) or disposes it.
   */
  private async switchTo(live: LiveDeployment, backend: Backend): Promise<void> {
    const old = await live.endpoint.switchBackend(backend);
    live.backend = backend;
    if (!old || old === backend) return;
    await testPause('switch:draining');
    await this.drain(old);
    if (old.version !== backend.version && this.keepsWarm(live.name, old.version)) {
      const previous = live.standby;
      live.standby = old;
      if (previous && previous !== old) await previous.dispose().catch(() => {});
    } else {
      await old.dispose();
    }
  }

  /** Waits for a backend's in-flight requests, at most one request time-out. */
  private async drain(backend: Backend): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      backend.drain(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.config.request_timeout_ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /** Whether a version leaving production stays loaded (warm_standby: auto = embedded only). */
  private keepsWarm(name: string, version: string): boolean {
    const setting = this.config.warm_standby;
    if (setting === false) return false;
    const target = this.registry.getVersion(name, version)?.target;
    // Versions sharing one serving unit (a swarm service updated in place) cannot stay loaded.
    if (target !== undefined && this.targets.has(target) && this.targets.get(target).sharesServing) return false;
    return setting === true ? target !== undefined : target === 'embedded';
  }

  /** The warm standby of `version`, taken out of standby (the caller serves or disposes it). */
  private takeStandby(name: string, version: string): Backend | null {
    const live = this.live.get(name);
    const standby = live?.standby;
    if (!live || !standby || standby.version !== version) return null;
    live.standby = null;
    return standby;
  }

  private async stopServing(name: string): Promise<void> {
    const live = this.live.get(name);
    if (!live) return;
    this.live.delete(name);
    const old = await live.endpoint.switchBackend(null);
    await live.endpoint.close();
    const standby = live.standby;
    live.standby = null;
    if (standby) await standby.dispose().catch(() => {});
    if (old) {
      await this.drain(old);
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
