/**
 * The docker target of the deployment manager: turns an exported version into an image
 * (generate deploy/generated/<name>/ → build with dockerode) and an image into a running,
 * healthy container behind a ContainerBackend.
 *
 * Everything it creates carries `frameworm.workspace=<id of this workspace>`, so orphans of a
 * crashed agent are found and removed, and two workspaces on one machine never touch each
 * other's containers even when their model names and versions coincide.
 *
 * Self-healing: every container it runs is watched (ContainerBackend.watch). A lost one is a
 * `backend_lost` event, then the control plane's `replace` hook starts a new container of the
 * same version behind the same endpoint (`backend_restored`), a bounded number of times with
 * backoff (`self_heal_failed` after that, or when the version keeps being lost).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ProgressEvent } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { DeployConfig } from '../config/deploy-config.js';
import { ensureOfflineBaseImage } from '../docker/base-image.js';
import { ContainerBackend, type BackendLoss } from '../docker/container-backend.js';
import { DockerClient, dockerSocketPath, type BuildProgress } from '../docker/docker-client.js';
import { imageRef, imageRepository } from '../docker/image-names.js';
import { generateServer } from '../generate/server-generator.js';
import type { JsonObject } from '../common/json.js';
import type { Backend } from '../serving/backend.js';
import type { Workspace } from '../workspace/workspace.js';
import { removeIfEmpty } from './deploy-support.js';

type Progress = (event: ProgressEvent) => void;

/** `--base-image offline`: build the base from Debian packages (no Docker Hub, no PyPI). */
export const OFFLINE_BASE = 'offline';
/** The user-defined network containers join (hosts without a default bridge need one). */
export const NETWORK = 'frameworm';
export const LABEL_WORKSPACE = 'frameworm.workspace';

export interface VersionImage {
  readonly tag: string;
  /** The image id (sha256:…), recorded in the registry as the version's image digest. */
  readonly id: string;
  readonly sizeBytes: number;
  readonly baseImage: string;
  readonly buildSeconds: number;
  /** Where the server was generated for this build; see publishGenerated / discardGenerated. */
  readonly buildDir: string;
}

export interface BuildRequest {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly exportDir: string;
  readonly baseImage?: string;
  /** Host port written into docker-compose.yml. */
  readonly composePort?: number;
  readonly lineage?: Readonly<Record<string, string | null>>;
}

/** How the docker target reaches the control plane when a container is lost. */
export interface SelfHealing {
  /** Records an event in the model's history (registry and JSONL). */
  recordEvent(name: string, event: string, fields: JsonObject): void;
  /** Whether `backend` is the one behind `name`'s endpoint now. */
  serving(name: string, backend: Backend): boolean;
  /**
   * Replaces `lost` by a fresh backend of the same version behind the same endpoint; null when
   * `lost` no longer serves (a deploy, rollback or stop replaced it meanwhile).
   */
  replace(name: string, lost: Backend): Promise<Backend | null>;
}

/** Tries to replace a lost container, and the waits before each (ms). */
export const SELF_HEAL_BACKOFF_MS: readonly number[] = [500, 5_000, 20_000];
/** A version lost this many times within SELF_HEAL_WINDOW_MS is crash-looping: it is not replaced again. */
export const SELF_HEAL_MAX_LOSSES = 3;
export const SELF_HEAL_WINDOW_MS = 10 * 60_000;

export interface RunRequest {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly image: { readonly tag: string; readonly id: string };
}

export class DockerTarget {
  readonly workspaceId: string;
  /** When each (model, version) was lost lately, to stop replacing a crash-looping version. */
  private readonly losses = new Map<string, number[]>();

  constructor(
    private readonly workspace: Workspace,
    private readonly config: DeployConfig,
    private readonly healing?: SelfHealing,
  ) {
    this.workspaceId = crypto.createHash('sha256').update(workspace.root).digest('hex').slice(0, 12);
  }

  /** Pings the daemon; E_RUNTIME "Docker daemon not running (socket … missing)" otherwise. */
  connect(): Promise<DockerClient> {
    return DockerClient.connect(dockerSocketPath(this.config.docker_socket));
  }

  /** Generates the server for a version and builds its image (labelled with model, version and lineage). */
  async build(request: BuildRequest, progress: Progress, signal?: AbortSignal): Promise<VersionImage> {
    const client = await this.connect();
    const t0 = Date.now();
    const { baseImage, installDeps, offline } = await this.resolveBase(client, request.baseImage ?? this.config.docker_base_image, progress, signal);
    if (offline && !fs.existsSync(path.join(request.exportDir, 'model.torchscript.pt'))) {
      throw new FramewormError(
        'E_INPUT',
        `${request.name} ${request.version} has only an ONNX model, and the offline base image ${baseImage} has no onnxruntime for Python (Debian does not package it): deploy the FRAMEWORM checkpoint (its TorchScript export runs there), or use a base image with PyPI access`,
      );
    }
    // Generated beside deploy/generated/<name>/ and moved there only by publishGenerated once the
    // deploy has succeeded, so a failed one leaves the folder of the last good deploy as it was.
    const finalDir = this.workspace.generatedDir(request.name);
    const generated = generateServer({
      workspace: this.workspace.root,
      name: request.name,
      version: request.version,
      exportDir: request.exportDir,
      runtime: this.config.server_runtime,
      outDir: path.join(path.dirname(finalDir), `.${request.name}-${request.version}.building`),
      docker: { baseImage, installDeps, ...(request.composePort ? { hostPort: request.composePort } : {}) },
      scaleOut: { replicas: this.config.swarm_replicas, memoryMb: this.config.container_memory_mb, startPeriodS: this.config.container_ready_timeout_s, stopGraceS: Math.max(5, Math.ceil(this.config.request_timeout_ms / 1000)) },
    });
    const tag = imageRef(request.name, request.version);
    progress({ step: 'build', message: `building ${tag} on ${baseImage}`, value: 0.4 });
    const labels: Record<string, string> = {
      [LABEL_WORKSPACE]: this.workspaceId,
      'frameworm.model': request.name,
      'frameworm.version': request.version,
      'frameworm.type': request.type,
      'org.opencontainers.image.title': request.name,
      'org.opencontainers.image.version': request.version,
    };
    for (const [k, v] of Object.entries(request.lineage ?? {})) if (v) labels[`frameworm.${k}`] = v;
    let image;
    try {
      image = await client.buildImage(generated.dir, {
        tag,
        buildArgs: { BASE_IMAGE: baseImage, INSTALL_DEPS: installDeps ? '1' : '0' },
        labels,
        ...(signal ? { signal } : {}),
        onProgress: buildLines((line) => progress({ step: 'build', message: line })),
      });
    } catch (err) {
      fs.rmSync(generated.dir, { recursive: true, force: true });
      removeIfEmpty(path.dirname(finalDir));
      // A cancelled build may still have tagged its image: a version being built is not
      // registered yet, so an image of ours under its tag is a leftover.
      await this.removeLeftoverTag(client, tag, labels);
      throw err;
    }
    return { tag, id: image.id, sizeBytes: image.sizeBytes, baseImage, buildSeconds: (Date.now() - t0) / 1000, buildDir: generated.dir };
  }

  /** Makes a built version's server folder deploy/generated/<name>/ (after its deploy succeeded). */
  publishGenerated(name: string, image: VersionImage): void {
    const finalDir = this.workspace.generatedDir(name);
    if (!fs.existsSync(image.buildDir)) return;
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.renameSync(image.buildDir, finalDir);
  }

  /** Drops a built version's server folder (its deploy failed, or it was a rebuild of an old version). */
  discardGenerated(name: string, image: VersionImage): void {
    fs.rmSync(image.buildDir, { recursive: true, force: true });
    removeIfEmpty(path.dirname(this.workspace.generatedDir(name)));
  }

  /** True when the image id is still in the local store. */
  async hasImage(id: string): Promise<boolean> {
    return (await (await this.connect()).imageId(id)) !== null;
  }

  /** Removes an image this workspace built (after a failed deploy); errors are ignored. */
  async removeImage(id: string): Promise<void> {
    try {
      const client = await this.connect();
      await client.docker.getImage(id).remove({ force: true });
    } catch {
      /* already gone, or in use by another tag */
    }
  }

  private async removeLeftoverTag(client: DockerClient, tag: string, labels: Readonly<Record<string, string>>): Promise<void> {
    try {
      const info = await client.docker.getImage(tag).inspect();
      const l = info.Config?.Labels ?? {};
      if (['frameworm.workspace', 'frameworm.model', 'frameworm.version'].every((k) => l[k] === labels[k])) await client.docker.getImage(info.Id).remove({ force: true });
    } catch {
      /* no such image */
    }
  }

  /** Runs a version's image hardened on 127.0.0.1 and waits for its HEALTHCHECK. */
  async run(request: RunRequest, progress: Progress, signal?: AbortSignal): Promise<ContainerBackend> {
    const client = await this.connect();
    if (!(await client.imageId(request.image.id))) {
      throw new FramewormError('E_RUNTIME', `the image of ${request.name} ${request.version} (${request.image.tag}, ${request.image.id.slice(0, 19)}) is no longer in the Docker image store`);
    }
    const labels = { [LABEL_WORKSPACE]: this.workspaceId, 'frameworm.model': request.name, 'frameworm.version': request.version };
    await client.ensureNetwork(NETWORK, { 'frameworm.managed': 'true' });
    const name = this.containerName(request.name, request.version);
    // A container of the same name is a leftover of a crashed agent: it is ours to replace.
    await client.stopAndRemove(name, 1);
    progress({ step: 'run', message: `starting container ${name}`, value: 0.6 });
    const id = await client.runContainer({
      image: request.image.id,
      name,
      hostPort: 0,
      labels,
      memoryBytes: this.config.container_memory_mb * 1024 * 1024,
      network: NETWORK,
    });
    try {
      const hostPort = await client.publishedPort(id);
      progress({ step: 'health', message: `waiting for ${name} to report healthy`, value: 0.7 });
      await client.waitHealthy(name, this.config.container_ready_timeout_s * 1000, signal ? { signal } : {});
      const backend = new ContainerBackend({
        name: request.name,
        version: request.version,
        type: request.type,
        client,
        containerId: id,
        containerName: name,
        image: request.image.tag,
        imageId: request.image.id,
        hostPort,
        requestTimeoutMs: this.config.request_timeout_ms,
      });
      if (this.healing) backend.watch((lost, loss) => void this.heal(lost, loss));
      return backend;
    } catch (err) {
      await client.stopAndRemove(id, 1).catch(() => undefined);
      throw err;
    }
  }

  /** Removes containers of this workspace that no live deployment owns (left by a crashed agent). */
  async removeOrphans(keep: ReadonlySet<string>): Promise<number> {
    const client = await this.connect();
    const list = await client.docker.listContainers({ all: true, filters: { label: [`${LABEL_WORKSPACE}=${this.workspaceId}`] } });
    let removed = 0;
    for (const c of list) {
      // Swarm task containers inherit the image's workspace label; Swarm owns them (the swarm target adopts their service).
      if (keep.has(c.Id) || c.Labels?.['com.docker.swarm.service.id']) continue;
      await client.stopAndRemove(c.Id, 1);
      removed++;
    }
    return removed;
  }

  /**
   * Removes what a killed agent left half-made (restore path): images labelled by this workspace
   * whose (model, version) is not registered (a build cancelled or never registered) and server
   * folders still being generated. A workspace that never built an image is not looked at.
   */
  async removeLeftovers(isRegistered: (model: string, version: string) => boolean): Promise<{ images: number; folders: number }> {
    const root = this.workspace.generatedRootDir;
    const entries = fs.existsSync(root) ? fs.readdirSync(root) : [];
    if (entries.length === 0) return { images: 0, folders: 0 };
    let folders = 0;
    for (const e of entries.filter((n) => /^\..+\.building$/.test(n))) {
      fs.rmSync(path.join(root, e), { recursive: true, force: true });
      folders++;
    }
    removeIfEmpty(root);
    const client = await this.connect();
    const images = await client.docker.listImages({ filters: { label: [`${LABEL_WORKSPACE}=${this.workspaceId}`] } });
    let removed = 0;
    for (const image of images) {
      const model = image.Labels?.['frameworm.model'];
      const version = image.Labels?.['frameworm.version'];
      if (!model || !version || isRegistered(model, version)) continue;
      try {
        await client.docker.getImage(image.Id).remove({ force: true });
        removed++;
      } catch {
        /* gone meanwhile */
      }
    }
    return { images: removed, folders };
  }

  /** `fw-<workspace id>-<repository>-<version>`: unique per exact model name, like the image. */
  containerName(name: string, version: string): string {
    return `fw-${this.workspaceId}-${imageRepository(name)}-${version}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
  }

  /** A watched container was lost: record it, then replace it (bounded, with backoff). */
  private async heal(lost: ContainerBackend, loss: BackendLoss): Promise<void> {
    const hooks = this.healing;
    if (!hooks) return;
    const name = loss.model;
    const record = (event: string, fields: JsonObject): void => {
      try {
        hooks.recordEvent(name, event, fields);
      } catch {
        /* an unwritable history must not stop the replacement */
      }
    };
    const lostEvent = (): void => record('backend_lost', { version: loss.version, container_id: loss.containerId, container: loss.containerName, reason: loss.reason, exit_code: loss.exitCode, detail: loss.detail });
    // A container lost before it was switched in (its deploy still running) belongs to no
    // history yet: it is an event only if that deploy switches it in anyway (replace says so).
    const serving = hooks.serving(name, lost);
    if (serving) lostEvent();
    const key = `${name}\u0000${loss.version}`;
    const now = Date.now();
    const recent = (this.losses.get(key) ?? []).filter((t) => now - t < SELF_HEAL_WINDOW_MS);
    recent.push(now);
    this.losses.set(key, recent);
    if (serving && recent.length > SELF_HEAL_MAX_LOSSES) {
      const minutes = Math.round(SELF_HEAL_WINDOW_MS / 60_000);
      record('self_heal_failed', { version: loss.version, container_id: loss.containerId, attempts: 0, error: `${name} ${loss.version} was lost ${recent.length} times within ${minutes} minutes; it is not replaced again (roll back, or redeploy it)` });
      return;
    }
    let error = '';
    for (const [i, wait] of SELF_HEAL_BACKOFF_MS.entries()) {
      await new Promise((r) => setTimeout(r, wait).unref());
      try {
        const fresh = await hooks.replace(name, lost);
        if (!fresh) return;
        if (!serving) lostEvent();
        const containerId = fresh instanceof ContainerBackend ? fresh.containerId : null;
        record('backend_restored', { version: loss.version, container_id: containerId, previous_container_id: loss.containerId, attempts: i + 1 });
        return;
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
    }
    record('self_heal_failed', { version: loss.version, container_id: loss.containerId, attempts: SELF_HEAL_BACKOFF_MS.length, error });
  }

  /** 'offline' builds (or finds) the Debian-based base; any image labelled frameworm.base already has the packages. */
  private async resolveBase(client: DockerClient, requested: string, progress: Progress, signal?: AbortSignal): Promise<{ baseImage: string; installDeps: boolean; offline: boolean }> {
    if (requested === OFFLINE_BASE) {
      progress({ step: 'base-image', message: 'finding or building the offline base image (Debian python3-torch, fastapi, uvicorn, numpy)', value: 0.35 });
      const base = await ensureOfflineBaseImage(client, {
        ...(signal ? { signal } : {}),
        onProgress: buildLines((line) => progress({ step: 'base-image', message: line })),
      });
      return { baseImage: base.tag, installDeps: false, offline: true };
    }
    let label: string | undefined;
    try {
      const info = await client.docker.getImage(requested).inspect();
      label = info.Config?.Labels?.['frameworm.base'];
    } catch {
      /* not local: the build pulls it (or says it cannot) */
    }
    return { baseImage: requested, installDeps: label === undefined, offline: label === 'offline' };
  }
}

/** Build progress events → one callback per non-empty output line. */
function buildLines(onLine: (line: string) => void): (event: BuildProgress) => void {
  return (event) => {
    const text = event.stream ?? event.status ?? '';
    for (const line of text.split('\n')) if (line.trim()) onLine(line.trim());
  };
}
