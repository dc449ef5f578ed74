/**
 * The image of a registered version, for the targets that run images (docker, swarm): the one
 * recorded in its lineage, or — when it was deleted from the image store since — one rebuilt
 * from the version's export, recorded as the new digest with an `image_rebuilt` event.
 */
import type { Registry, VersionRecord } from '../../registry/registry.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { DockerTarget } from '../docker-target.js';
import type { Progress } from './target.js';

/** What versionImageId reads and writes. */
export interface VersionImageDeps {
  readonly docker: DockerTarget;
  readonly registry: Registry;
  readonly workspace: Workspace;
}

/** The id of `record`'s image, rebuilt first when the store no longer has it. */
export async function versionImageId(deps: VersionImageDeps, record: VersionRecord, progress: Progress, signal?: AbortSignal): Promise<string> {
  const recorded = record.lineage.image_digest;
  if (recorded && (await deps.docker.hasImage(recorded))) return recorded;
  progress({ step: 'build', message: `the image of ${record.version} is gone; rebuilding it from its export`, value: 0.2 });
  const baseImage = record.artifacts['base_image'];
  const image = await deps.docker.build(
    { name: record.name, version: record.version, type: record.type, exportDir: deps.workspace.exportDir(record.name, record.version), ...(baseImage ? { baseImage } : {}) },
    progress,
    signal,
  );
  deps.docker.discardGenerated(record.name, image);
  deps.registry.setImageDigest(record.name, record.version, image.id);
  deps.registry.recordEvent(record.name, 'image_rebuilt', { version: record.version, image: image.tag, image_digest: image.id, previous_digest: recorded });
  return image.id;
}
