/**
 * The embedded target: the exported ONNX model served in this process by onnxruntime-node
 * worker threads (main/serving/embedded-backend.ts). Nothing to build and nothing to clean up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ContainerStateView, DeployStartArgs } from '../../../preload/contract.js';
import { FramewormError } from '../../common/errors.js';
import type { ModelType } from '../../common/types.js';
import type { DeployConfig } from '../../config/deploy-config.js';
import { readManifest } from '../../common/export-manifest.js';
import type { VersionRecord } from '../../registry/registry.js';
import type { Backend } from '../../serving/backend.js';
import { EmbeddedBackend } from '../../serving/embedded-backend.js';
import type { Workspace } from '../../workspace/workspace.js';
import { warmupDims } from '../deploy-support.js';
import type { DeploymentTarget, PrepareRequest, PreparedVersion } from './target.js';

export class EmbeddedTarget implements DeploymentTarget {
  readonly kind = 'embedded' as const;

  constructor(
    private readonly workspace: Workspace,
    private readonly config: DeployConfig,
  ) {}

  validate(args: DeployStartArgs): void {
    if (args.baseImage !== undefined) throw new FramewormError('E_USAGE', '--base-image applies to the docker target only (add --build-docker)');
    if (args.replicas !== undefined) throw new FramewormError('E_USAGE', '--replicas applies to --target swarm only');
  }

  async preflight(): Promise<void> {}

  async prepare(request: PrepareRequest): Promise<PreparedVersion> {
    return {
      artifacts: {},
      lineage: {},
      load: async () => this.loadModel(request.name, request.version, request.type, request.modelPath),
      commit: () => {},
      discard: async () => {},
    };
  }

  load(record: VersionRecord): Promise<Backend> {
    const onnx = record.artifacts['onnx'];
    const modelPath = typeof onnx === 'string' ? onnx : path.join(this.workspace.exportDir(record.name, record.version), 'model.onnx');
    return this.loadModel(record.name, record.version, record.type, modelPath);
  }

  async describe(): Promise<ContainerStateView | null> {
    return null;
  }

  async cleanUp(): Promise<void> {}

  /** Loads and warms an export in the embedded runtime. */
  private async loadModel(name: string, version: string, type: ModelType, modelPath: string): Promise<Backend> {
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
      batching: { enabled: this.config.batching.enabled, maxRows: this.config.batching.max_rows, maxDelayMs: this.config.batching.max_delay_ms },
      requestTimeoutMs: this.config.request_timeout_ms,
      model: { hyperParameters: manifest.hyper_parameters, ...(manifest.schedule ? { schedule: manifest.schedule } : {}) },
      ...(type === 'generic' ? {} : { warmupDims: warmupDims(manifest) }),
    });
  }
}
