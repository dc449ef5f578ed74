/**
 * The docker target: a version's generated FastAPI server built into an image and run as a
 * hardened container on 127.0.0.1, behind the stable endpoint (main/deploy/docker-target.ts
 * holds the Docker operations and the self-healing of lost containers).
 */
import type { ContainerStateView, DeployStartArgs } from '../../../preload/contract.js';
import { ContainerBackend } from '../../docker/container-backend.js';
import { imageRef } from '../../docker/image-names.js';
import type { Registry, VersionRecord } from '../../registry/registry.js';
import type { Backend } from '../../serving/backend.js';
import type { Workspace } from '../../workspace/workspace.js';
import { FramewormError, toFramewormError } from '../../common/errors.js';
import type { DockerTarget } from '../docker-target.js';
import { versionImageId } from './version-image.js';
import type { DeploymentTarget, PrepareRequest, PreparedVersion, Progress } from './target.js';

export class DockerDeploymentTarget implements DeploymentTarget {
  readonly kind = 'docker' as const;

  constructor(
    private readonly workspace: Workspace,
    private readonly registry: Registry,
    readonly docker: DockerTarget,
  ) {}

  validate(args: DeployStartArgs): void {
    if (args.replicas !== undefined) throw new FramewormError('E_USAGE', '--replicas applies to --target swarm only');
  }

  /** A dead daemon is reported before anything is exported or built. */
  async preflight(): Promise<void> {
    await this.docker.connect();
  }

  async prepare(request: PrepareRequest, progress: Progress, signal?: AbortSignal): Promise<PreparedVersion> {
    const { name, version, type, exportDir, args } = request;
    const image = await this.docker.build(
      {
        name,
        version,
        type,
        exportDir,
        ...(args.baseImage !== undefined ? { baseImage: args.baseImage } : {}),
        ...(request.port !== null ? { composePort: request.port } : {}),
        lineage: request.lineage,
      },
      progress,
      signal,
    );
    progress({ step: 'build', message: `built ${image.tag} (${image.id.slice(7, 19)}, ${Math.round(image.sizeBytes / 1e6)} MB) in ${image.buildSeconds.toFixed(1)} s`, value: 0.55 });
    return {
      artifacts: { image: image.tag, base_image: image.baseImage },
      lineage: { image_digest: image.id },
      load: (p, s) => this.docker.run({ name, version, type, image }, p, s),
      commit: () => this.docker.publishGenerated(name, image),
      discard: async () => {
        await this.docker.removeImage(image.id);
        this.docker.discardGenerated(name, image);
      },
    };
  }

  /** Runs the version's image; an image deleted from the store since is rebuilt from its export. */
  async load(record: VersionRecord, progress: Progress, signal?: AbortSignal): Promise<Backend> {
    const tag = record.artifacts['image'] ?? imageRef(record.name, record.version);
    const id = await versionImageId({ docker: this.docker, registry: this.registry, workspace: this.workspace }, record, progress, signal);
    return this.docker.run({ name: record.name, version: record.version, type: record.type, image: { tag, id } }, progress, signal);
  }

  async describe(backend: Backend): Promise<ContainerStateView | null> {
    return backend instanceof ContainerBackend ? backend.state() : null;
  }

  async cleanUp(isRegistered: (model: string, version: string) => boolean, hasProduction: boolean, log: (line: string) => void): Promise<void> {
    try {
      // Images of builds a killed agent never registered (and their half-generated folders).
      const left = await this.docker.removeLeftovers(isRegistered);
      if (left.images + left.folders > 0) log(`removed ${left.images} image(s) and ${left.folders} generated folder(s) of docker builds that were never registered`);
    } catch (err) {
      log(`cannot clean up unregistered images: ${toFramewormError(err).message}`);
    }
    if (!hasProduction) return;
    // Containers a crashed agent left behind are replaced, not adopted: their state is unknown.
    try {
      const removed = await this.docker.removeOrphans(new Set());
      if (removed > 0) log(`removed ${removed} container(s) left by an earlier agent`);
    } catch (err) {
      log(`cannot clean up old containers: ${toFramewormError(err).message}`);
    }
  }
}
