/**
 * Generates the standalone Python server of a deployed version (DESIGN §3, §5):
 *
 *   deploy/generated/<name>/
 *     server.py, schemas.py, codec.py, errors.py, png.py, runtime.py, metrics.py, sampler.py,
 *     request_checks.py
 *     frameworm/__init__.py, frameworm/noise.py     the shared noise generator
 *     model/manifest.json, model.onnx, model.torchscript.pt, deployment.json
 *     requirements.txt                               exact `==` pins
 *     Dockerfile, .dockerignore, docker-compose.yml  from templates/docker/ (main/docker/)
 *     stack.yml, k8s/deployment.yaml, k8s/service.yaml  scale-out (scale-manifests.ts)
 *
 * The server answers the same HTTP contract as the embedded runtime (templates/server/server.py).
 * Pure file generation: building and running images is someone else's job.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { MANIFEST_FILE, type ExportManifest } from '../common/export-manifest.js';
import { templatesDir } from '../export/python-finder.js';
import { CONTAINER_PIDS_LIMIT } from '../docker/hardening.js';
import { composeProjectName, imageRef } from '../docker/image-names.js';
import { scaleOutFiles, type ScaleOutOptions } from './scale-manifests.js';

/** Which inference runtime the generated requirements install. */
export type ServerRuntime = 'onnxruntime' | 'torch';

/** Exact versions the generated requirements pin (users have pip and Python 3.11+). */
export const DEFAULT_PINS: Readonly<Record<string, string>> = {
  fastapi: '0.115.6',
  uvicorn: '0.32.1',
  numpy: '1.26.4',
  onnxruntime: '1.20.1',
  torch: '2.5.1',
};

/** The server's Python modules, copied from templates/server/. */
export const SERVER_MODULES = ['server.py', 'schemas.py', 'codec.py', 'errors.py', 'png.py', 'runtime.py', 'metrics.py', 'sampler.py', 'request_checks.py', 'tensor_body.py', 'safetensors_codec.py'] as const;
/** The frameworm modules the server imports, copied from templates/frameworm/. */
export const FRAMEWORM_MODULES = ['__init__.py', 'noise.py'] as const;
const ARTIFACTS = ['model.onnx', 'model.torchscript.pt'] as const;

export interface GenerateServerOptions {
  /** Workspace root (holds experiments/ and deploy/). */
  readonly workspace: string;
  readonly name: string;
  readonly version: string;
  /** The export folder; default experiments/deploy_exports/<name>/<version>. */
  readonly exportDir?: string;
  /** Default 'onnxruntime'; 'torch' serves model.torchscript.pt instead. */
  readonly runtime?: ServerRuntime;
  /** Overrides of {@link DEFAULT_PINS}. */
  readonly pins?: Readonly<Record<string, string>>;
  /** Output folder; default deploy/generated/<name>. */
  readonly outDir?: string;
  /** docker-compose.yml defaults: base image, whether pip installs requirements, host port. */
  readonly docker?: DockerFilesOptions;
  /** stack.yml and k8s/ manifests: replicas, memory, timings (defaults in scale-manifests.ts). */
  readonly scaleOut?: ScaleOutOptions;
}

export interface DockerFilesOptions {
  /** Default {@link DEFAULT_BASE_IMAGE}. */
  readonly baseImage?: string;
  /** Default true; false for offline base images that already have the Python packages. */
  readonly installDeps?: boolean;
  /** Default 8000. */
  readonly hostPort?: number;
}

/** The Dockerfile's default `ARG BASE_IMAGE` (users have Docker Hub). */
export const DEFAULT_BASE_IMAGE = 'python:3.11-slim-bookworm';
// The image reference docker-compose.yml and the docker target use (unique per exact name).
export { imageRef } from '../docker/image-names.js';
const IMAGE_RE = /^[a-z0-9][a-z0-9._/:@-]*$/i;

/** The Dockerfile, .dockerignore and docker-compose.yml texts for one version. */
export function dockerFiles(name: string, version: string, options: DockerFilesOptions = {}): Record<'Dockerfile' | '.dockerignore' | 'docker-compose.yml', string> {
  const baseImage = options.baseImage ?? DEFAULT_BASE_IMAGE;
  if (!IMAGE_RE.test(baseImage)) throw new FramewormError('E_USAGE', `invalid base image '${baseImage}' (an image reference like python:3.11-slim-bookworm)`);
  const hostPort = options.hostPort ?? 8000;
  if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) throw new FramewormError('E_USAGE', `invalid host port ${hostPort} (1-65535)`);
  const dir = path.join(templatesDir(), 'docker');
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');
  const values: Record<string, string> = {
    NAME: name,
    VERSION: version,
    SERVICE: name.toLowerCase().replace(/[^a-z0-9_-]/g, '-'),
    IMAGE: imageRef(name, version),
    PROJECT: composeProjectName(name),
    PIDS_LIMIT: String(CONTAINER_PIDS_LIMIT),
    BASE_IMAGE: baseImage,
    INSTALL_DEPS: options.installDeps === false ? '0' : '1',
    HOST_PORT: String(hostPort),
  };
  const compose = read('docker-compose.yml').replace(/\{\{([A-Z_]+)\}\}/g, (_, k: string) => values[k] ?? '');
  return { Dockerfile: read('Dockerfile'), '.dockerignore': read('dockerignore'), 'docker-compose.yml': compose };
}

export interface GeneratedServer {
  readonly dir: string;
  readonly files: readonly string[];
  readonly runtime: ServerRuntime;
  readonly type: string;
  readonly requirements: readonly string[];
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The requirements.txt lines for a runtime, each pinned with `==`. */
export function requirementsFor(runtime: ServerRuntime, pins: Readonly<Record<string, string>> = {}): string[] {
  const all = { ...DEFAULT_PINS, ...pins };
  const packages = ['fastapi', 'uvicorn', 'numpy', runtime === 'torch' ? 'torch' : 'onnxruntime'];
  return packages.map((p) => {
    const v = all[p];
    if (!v || !/^[0-9][0-9A-Za-z.+!-]*$/.test(v)) throw new FramewormError('E_USAGE', `no exact version for '${p}' (got ${JSON.stringify(v)}); pins must be versions like 1.2.3`);
    return `${p}==${v}`;
  });
}

/** Writes deploy/generated/<name>/ for one exported version; replaces what was there. */
export function generateServer(options: GenerateServerOptions): GeneratedServer {
  const { workspace, name, version } = options;
  if (!NAME_RE.test(name)) throw new FramewormError('E_USAGE', `invalid model name '${name}' (letters, digits, '.', '_', '-')`);
  if (!NAME_RE.test(version)) throw new FramewormError('E_USAGE', `invalid version '${version}'`);
  const runtime = options.runtime ?? 'onnxruntime';
  const exportDir = path.resolve(options.exportDir ?? path.join(workspace, 'experiments', 'deploy_exports', name, version));
  const manifestPath = path.join(exportDir, MANIFEST_FILE);
  if (!fs.existsSync(manifestPath)) {
    throw new FramewormError('E_INPUT', `${name} ${version} has no export manifest at ${manifestPath}; export the model first`);
  }
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ExportManifest;
  const needed = runtime === 'torch' ? 'model.torchscript.pt' : 'model.onnx';
  if (!fs.existsSync(path.join(exportDir, needed))) {
    throw new FramewormError('E_INPUT', `${name} ${version} has no ${needed} in ${exportDir}, which the ${runtime} runtime serves`);
  }
  if ((manifest.type === 'ddpm' || manifest.type === 'cfg_ddpm') && !manifest.schedule) {
    throw new FramewormError('E_INPUT', `${name} ${version} is a ${manifest.type} without its noise schedule; re-export the checkpoint`);
  }
  const requirements = requirementsFor(runtime, options.pins);

  const outDir = path.resolve(options.outDir ?? path.join(workspace, 'deploy', 'generated', name));
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'frameworm'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'model'), { recursive: true });
  const files: string[] = [];
  const copy = (from: string, rel: string): void => {
    fs.copyFileSync(from, path.join(tmp, rel));
    files.push(rel);
  };
  const templates = templatesDir();
  for (const m of SERVER_MODULES) copy(path.join(templates, 'server', m), m);
  for (const m of FRAMEWORM_MODULES) copy(path.join(templates, 'frameworm', m), path.join('frameworm', m));
  copy(manifestPath, path.join('model', MANIFEST_FILE));
  // Both artifacts when present: an onnxruntime image serves model.onnx, and the server falls
  // back to TorchScript where onnxruntime is not installed.
  for (const a of ARTIFACTS) if (fs.existsSync(path.join(exportDir, a))) copy(path.join(exportDir, a), path.join('model', a));
  const write = (rel: string, text: string): void => {
    fs.writeFileSync(path.join(tmp, rel), text);
    files.push(rel);
  };
  write(path.join('model', 'deployment.json'), `${JSON.stringify({ name, version, type: manifest.type, runtime }, null, 2)}\n`);
  write('requirements.txt', `${requirements.join('\n')}\n`);
  for (const [rel, text] of Object.entries(dockerFiles(name, version, options.docker))) write(rel, text);
  fs.mkdirSync(path.join(tmp, 'k8s'), { recursive: true });
  const hostPort = options.docker?.hostPort;
  for (const [rel, text] of Object.entries(scaleOutFiles(name, version, { ...(hostPort !== undefined ? { hostPort } : {}), ...options.scaleOut }))) write(rel, text);

  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  fs.renameSync(tmp, outDir);
  return { dir: outDir, files: files.sort(), runtime, type: manifest.type, requirements };
}
