/**
 * Makes versions servable: an export loaded and warmed in the embedded runtime, or a version's
 * image running as a healthy container (rebuilt from its export when the image is gone).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ProgressEvent } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { DeployConfig } from '../config/deploy-config.js';
import { readManifest } from '../export/manifest.js';
import { imageRef } from '../docker/image-names.js';
import type { Registry, VersionRecord } from '../registry/registry.js';
import type { Backend } from '../serving/backend.js';
import { EmbeddedBackend } from '../serving/embedded-backend.js';
import type { Workspace } from '../workspace/workspace.js';
import { warmupDims } from './deploy-support.js';
import type { DockerTarget } from './docker-target.js';

type Progress = (event: ProgressEvent) => void;

export class VersionLoader {
  constructor(
    private readonly workspace: Workspace,
    private readonly config: DeployConfig,
    private readonly registry: Registry,
    private readonly docker: DockerTarget,
  ) {}

  /**
   * Makes a registered version servable on its own target: warmed in the embedded runtime, or
   * its image's container healthy. An image deleted from the store since is rebuilt from the
   * version's export (and its new id recorded).
   */
  async load(record: VersionRecord, progress: Progress, signal?: AbortSignal): Promise<Backend> {
    if (record.target !== 'docker') return this.loadEmbedded(record.name, record.version, record.type, this.modelPathOf(record));
    const tag = record.artifacts['image'] ?? imageRef(record.name, record.version);
    let id = record.lineage.image_digest;
    if (!id || !(await this.docker.hasImage(id))) {
      progress({ step: 'build', message: `the image of ${record.version} is gone; rebuilding it from its export`, value: 0.2 });
      const image = await this.docker.build(
        { name: record.name, version: record.version, type: record.type, exportDir: this.workspace.exportDir(record.name, record.version), ...(record.artifacts['base_image'] ? { baseImage: record.artifacts['base_image'] } : {}) },
        progress,
        signal,
      );
      this.docker.discardGenerated(record.name, image);
      this.registry.setImageDigest(record.name, record.version, image.id);
      this.registry.recordEvent(record.name, 'image_rebuilt', { version: record.version, image: image.tag, image_digest: image.id, previous_digest: id });
      id = image.id;
    }
    return this.docker.run({ name: record.name, version: record.version, type: record.type, image: { tag, id } }, progress, signal);
  }

  /** Loads and warms an export in the embedded runtime (deploy start loads a version not yet registered). */
  async loadEmbedded(name: string, version: string, type: ModelType, modelPath: string): Promise<Backend> {
    if (!fs.existsSync(modelPath)) {
      throw new FramewormError('E_RUNTIME', `the artifact of ${name} ${version} is missing: ${modelPath}`);
    }
    const manifest = readManifest(path.dirname(modelPath));
    if ((type === 'ddpm' || type === 'cfg_ddpm') && !manifest.schedule) {
      throw new FramewormError('E_INPUT', `${name} ${version} is a ${type} without its noise schedule; deploy the checkpoint so the exporter can record it`);
    }
    return EmbeddedBackend.load({
      name,
      version,
      type,
      modelPath,
      threads: this.config.inference_threads,
      // Two workers by default: requests overlap inference and encoding their answers.
      workers: this.config.inference_workers ?? Math.min(2, os.availableParallelism()),
      maxBatchSize: this.config.max_batch_size,
      model: { hyperParameters: manifest.hyper_parameters, ...(manifest.schedule ? { schedule: manifest.schedule } : {}) },
      ...(type === 'generic' ? {} : { warmupDims: warmupDims(manifest) }),
    });
  }

  private modelPathOf(record: VersionRecord): string {
    const onnx = record.artifacts['onnx'];
    return typeof onnx === 'string' ? onnx : path.join(this.workspace.exportDir(record.name, record.version), 'model.onnx');
  }
}
