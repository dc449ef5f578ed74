/**
 * A thin dockerode wrapper for the docker target (DESIGN §3–§5): build a generated server's
 * image, run it hardened (127.0.0.1 publish only, no capabilities, no new privileges, read-only
 * root with a /tmp tmpfs, memory limit), wait for its HEALTHCHECK, stop and remove it.
 *
 * Every failure is a FramewormError: an absent or silent daemon is E_RUNTIME "Docker daemon not
 * running (socket … missing)"; a failed build carries the daemon's own message (dockerode
 * reports build errors as progress events, not as a rejected promise).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import tar from 'tar-fs';
import { FramewormError } from '../common/errors.js';
import { CONTAINER_PIDS_LIMIT } from './hardening.js';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** The daemon socket: `configured`, else DOCKER_HOST when it is a unix:// address, else the default. */
export function dockerSocketPath(configured?: string | null, env: NodeJS.ProcessEnv = process.env): string {
  if (configured) return configured;
  const host = env['DOCKER_HOST'];
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return DEFAULT_SOCKET;
}

export interface BuildProgress {
  readonly stream?: string;
  readonly status?: string;
  readonly error?: string;
  readonly errorDetail?: { message?: string };
  readonly aux?: { ID?: string };
}

export interface BuildOptions {
  readonly tag: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: BuildProgress) => void;
  /** Dockerfile path inside the context; default 'Dockerfile'. */
  readonly dockerfile?: string;
  /** Build network mode; default 'host' (DESIGN: machines without a default bridge). */
  readonly networkMode?: string;
  /** Reuse no cached layer (the base image itself is still taken from the store). */
  readonly nocache?: boolean;
}

export interface BuiltImage {
  readonly id: string;
  readonly tag: string;
  readonly sizeBytes: number;
}

export interface RunOptions {
  readonly image: string;
  readonly name: string;
  /** Host port on 127.0.0.1; 0 lets the daemon pick a free one (read it with publishedPort). */
  readonly hostPort: number;
  /** Default 8080 (the generated server's port). */
  readonly containerPort?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** Default 2 GiB. */
  readonly memoryBytes?: number;
  /** A user-defined network; omitted: the daemon's default. */
  readonly network?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Default CONTAINER_PIDS_LIMIT. */
  readonly pidsLimit?: number;
}

export interface ContainerState {
  readonly id: string;
  readonly name: string;
  readonly running: boolean;
  readonly status: string;
  /** 'starting' | 'healthy' | 'unhealthy' | 'none' (no HEALTHCHECK). */
  readonly health: string;
  readonly exitCode: number;
  readonly lastHealthLog: string;
  /** The image id the container runs. */
  readonly image: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** True when the kernel's OOM killer ended it. */
  readonly oomKilled: boolean;
}

function daemonError(socketPath: string, cause: unknown): FramewormError {
  const why = fs.existsSync(socketPath) ? 'not answering' : 'missing';
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new FramewormError('E_RUNTIME', `Docker daemon not running (socket ${socketPath} ${why}); start dockerd or Docker Desktop`, detail);
}

/** The daemon's own message of a dockerode error (its JSON `message`), else the error's text. */
export function daemonMessage(err: unknown): string {
  if (err && typeof err === 'object') {
    const json = (err as { json?: { message?: unknown } }).json;
    if (json && typeof json.message === 'string') return json.message;
    if (err instanceof Error) return err.message;
  }
  return String(err);
}

/** The HTTP status of a dockerode error, when the daemon answered. */
export function daemonStatus(err: unknown): number | undefined {
  return err && typeof err === 'object' && typeof (err as { statusCode?: unknown }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : undefined;
}

/** Reads simple .dockerignore patterns (no negation) as path tests. */
function ignoreFilter(contextDir: string): (name: string) => boolean {
  const file = path.join(contextDir, '.dockerignore');
  if (!fs.existsSync(file)) return () => false;
  const patterns = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
  const regexes = patterns.map((p) => {
    const body = p
      .replace(/^\/+/, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*\//g, '(?:.*/)?')
      .replace(/\*\*/g, '.*')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]');
    return new RegExp(`^${body}(?:/.*)?$`);
  });
  return (name: string) => {
    const rel = path.relative(contextDir, name).split(path.sep).join('/');
    if (rel === 'Dockerfile' || rel === '.dockerignore' || rel === '') return false; // the daemon needs them
    return regexes.some((r) => r.test(rel));
  };
}

export class DockerClient {
  readonly docker: Docker;

  private constructor(readonly socketPath: string) {
    this.docker = new Docker({ socketPath, timeout: 0 });
  }

  /** Connects and pings the daemon (within `timeoutMs`); E_RUNTIME when it is absent. */
  static async connect(socketPath = DEFAULT_SOCKET, timeoutMs = 5000): Promise<DockerClient> {
    if (!fs.existsSync(socketPath)) throw daemonError(socketPath, new Error('no such file'));
    const client = new DockerClient(socketPath);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.docker.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      throw daemonError(socketPath, err);
    } finally {
      if (timer) clearTimeout(timer);
    }
    return client;
  }

  /** Builds `contextDir` (tar-fs stream) as `tag`; resolves with the image id, rejects with the daemon's error. */
  async buildImage(contextDir: string, options: BuildOptions): Promise<BuiltImage> {
    const { signal } = options;
    if (signal?.aborted) throw new FramewormError('E_RUNTIME', `build of ${options.tag} cancelled`);
    if (!fs.existsSync(path.join(contextDir, options.dockerfile ?? 'Dockerfile'))) {
      throw new FramewormError('E_INPUT', `no ${options.dockerfile ?? 'Dockerfile'} in ${contextDir}`);
    }
    const pack = tar.pack(contextDir, { ignore: ignoreFilter(contextDir) });
    let stream: Readable;
    try {
      stream = (await this.docker.buildImage(pack as unknown as NodeJS.ReadableStream, {
        t: options.tag,
        dockerfile: options.dockerfile ?? 'Dockerfile',
        buildargs: { ...(options.buildArgs ?? {}) },
        labels: { ...(options.labels ?? {}) },
        networkmode: options.networkMode ?? 'host',
        rm: true,
        forcerm: true,
        ...(options.nocache ? { nocache: true } : {}),
      })) as unknown as Readable;
    } catch (err) {
      pack.destroy();
      throw new FramewormError('E_RUNTIME', `docker build of ${options.tag} failed: ${daemonMessage(err)}`);
    }
    let imageId: string | undefined;
    let buildError: string | undefined;
    const tail: string[] = [];
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        stream.destroy();
        pack.destroy();
        reject(new FramewormError('E_RUNTIME', `build of ${options.tag} cancelled`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.docker.modem.followProgress(
        stream,
        (err: Error | null) => {
          signal?.removeEventListener('abort', onAbort);
          if (settled) return;
          settled = true;
          if (err) reject(new FramewormError('E_RUNTIME', `docker build of ${options.tag} failed: ${daemonMessage(err)}`));
          else resolve();
        },
        (event: BuildProgress) => {
          if (event.error) buildError ??= event.errorDetail?.message ?? event.error;
          if (event.aux?.ID) imageId = event.aux.ID;
          if (event.stream) {
            const m = /Successfully built ([0-9a-f]{12,64})/.exec(event.stream);
            if (m) imageId ??= m[1];
            for (const line of event.stream.split('\n')) if (line.trim()) tail.push(line.trimEnd());
            if (tail.length > 20) tail.splice(0, tail.length - 20);
          }
          options.onProgress?.(event);
        },
      );
    });
    if (buildError) {
      const base = options.buildArgs?.['BASE_IMAGE'];
      const pull = /registry|pull access denied|manifest unknown|repository does not exist|no such host|not found/i.test(buildError);
      const why = base && pull ? `base image '${base}' is not available locally and could not be pulled (${buildError.trim()})` : buildError.trim();
      throw new FramewormError('E_RUNTIME', `docker build of ${options.tag} failed: ${why}`, { log: tail.join('\n') });
    }
    try {
      const info = await this.docker.getImage(options.tag).inspect();
      return { id: info.Id, tag: options.tag, sizeBytes: info.Size };
    } catch (err) {
      throw new FramewormError('E_RUNTIME', `docker build of ${options.tag} produced no image (${imageId ?? 'no id'}): ${daemonMessage(err)}`, { log: tail.join('\n') });
    }
  }

  /** Image id when `ref` exists locally, else null. */
  async imageId(ref: string): Promise<string | null> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id;
    } catch (err) {
      if (daemonStatus(err) === 404) return null;
      throw new FramewormError('E_RUNTIME', `docker image inspect ${ref} failed: ${daemonMessage(err)}`);
    }
  }

  /** Creates a user-defined network when missing (no default bridge on some hosts). */
  async ensureNetwork(name: string, labels: Readonly<Record<string, string>> = {}): Promise<void> {
    const existing = await this.docker.listNetworks({ filters: { name: [name] } });
    if (existing.some((n) => n.Name === name)) return;
    await this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: { ...labels } });
  }

  /** Creates and starts a hardened container; returns its id. */
  async runContainer(options: RunOptions): Promise<string> {
    const port = `${options.containerPort ?? 8080}/tcp`;
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        name: options.name,
        Image: options.image,
        Labels: { ...(options.labels ?? {}) },
        Env: Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
        ExposedPorts: { [port]: {} },
        HostConfig: {
          PortBindings: { [port]: [{ HostIp: '127.0.0.1', HostPort: options.hostPort === 0 ? '' : String(options.hostPort) }] },
          SecurityOpt: ['no-new-privileges'],
          CapDrop: ['ALL'],
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': 'rw,noexec,nosuid,size=256m' },
          Memory: options.memoryBytes ?? 2 * 1024 ** 3,
          PidsLimit: options.pidsLimit ?? CONTAINER_PIDS_LIMIT,
          ...(options.network ? { NetworkMode: options.network } : {}),
          LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
        },
      });
    } catch (err) {
      throw new FramewormError('E_RUNTIME', `cannot create container ${options.name} from ${options.image}: ${daemonMessage(err)}`);
    }
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      const text = daemonMessage(err);
      if (/port is already allocated|address already in use/i.test(text)) throw new FramewormError('E_PORT_IN_USE', `port 127.0.0.1:${options.hostPort} is in use`);
      throw new FramewormError('E_RUNTIME', `cannot start container ${options.name}: ${text}`);
    }
    return container.id;
  }

  /** The 127.0.0.1 host port a running container's `containerPort` is published on. */
  async publishedPort(idOrName: string, containerPort = 8080): Promise<number> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(idOrName).inspect();
    } catch (err) {
      throw new FramewormError('E_RUNTIME', `docker inspect ${idOrName} failed: ${daemonMessage(err)}`);
    }
    const bindings = info.NetworkSettings.Ports[`${containerPort}/tcp`] ?? [];
    const port = Number(bindings.find((b) => b.HostIp === '127.0.0.1')?.HostPort ?? bindings[0]?.HostPort);
    if (!Number.isInteger(port) || port <= 0) throw new FramewormError('E_RUNTIME', `container ${idOrName} publishes no host port for ${containerPort}/tcp`);
    return port;
  }

  async inspectState(idOrName: string): Promise<ContainerState | null> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(idOrName).inspect();
    } catch (err) {
      if (daemonStatus(err) === 404) return null;
      throw new FramewormError('E_RUNTIME', `docker inspect ${idOrName} failed: ${daemonMessage(err)}`);
    }
    const health = info.State.Health;
    const last = health?.Log?.[health.Log.length - 1];
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      running: info.State.Running,
      status: info.State.Status,
      health: health?.Status ?? 'none',
      exitCode: info.State.ExitCode,
      lastHealthLog: last?.Output?.trim() ?? '',
      image: info.Image,
      startedAt: info.State.StartedAt,
      finishedAt: info.State.FinishedAt,
      oomKilled: info.State.OOMKilled,
    };
  }

  /** The last `lines` of the container's log (stdout + stderr). */
  async logs(idOrName: string, lines = 40): Promise<string> {
    try {
      const buf = (await this.docker.getContainer(idOrName).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
      // Multiplexed frames: 8-byte headers before each chunk.
      const out: string[] = [];
      for (let i = 0; i + 8 <= buf.length; ) {
        const len = buf.readUInt32BE(i + 4);
        out.push(buf.subarray(i + 8, i + 8 + len).toString());
        i += 8 + len;
      }
      return out.join('');
    } catch {
      return '';
    }
  }

  /**
   * Polls until the container's HEALTHCHECK says healthy. On timeout, exit, unhealthy or an
   * aborted `signal` the container is removed and E_RUNTIME thrown with its last log lines.
   */
  async waitHealthy(idOrName: string, timeoutMs: number, options: { pollMs?: number; signal?: AbortSignal } = {}): Promise<ContainerState> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.inspectState(idOrName);
      if (state?.running && (state.health === 'healthy' || state.health === 'none')) return state;
      let why: string | null = null;
      if (options.signal?.aborted) why = 'was cancelled while starting';
      else if (!state) why = 'disappeared';
      else if (!state.running) why = `exited with code ${state.exitCode}`;
      else if (state.health === 'unhealthy') why = `is unhealthy (${state.lastHealthLog})`;
      else if (Date.now() > until) why = `was not healthy within ${timeoutMs} ms (health: ${state.health})`;
      if (why) {
        const log = await this.logs(idOrName);
        await this.stopAndRemove(idOrName);
        // A server that crashed says why in its last line (a Python exception, usually).
        const last = state && !state.running ? log.split('\n').map((l) => l.trim()).filter(Boolean).pop() : undefined;
        throw new FramewormError('E_RUNTIME', `container ${idOrName} ${why}${last ? ` (last log line: ${last.slice(0, 300)})` : ''}`, { log });
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
  }

  /** Stops (grace `timeoutS`) and removes a container; missing ones are fine. */
  async stopAndRemove(idOrName: string, timeoutS = 10): Promise<void> {
    const c = this.docker.getContainer(idOrName);
    try {
      await c.stop({ t: timeoutS });
    } catch (err) {
      const code = daemonStatus(err);
      if (code !== 304 && code !== 404) throw new FramewormError('E_RUNTIME', `docker stop ${idOrName} failed: ${daemonMessage(err)}`);
    }
    try {
      await c.remove({ force: true });
    } catch (err) {
      const code = daemonStatus(err);
      if (code !== 404 && code !== 409) throw new FramewormError('E_RUNTIME', `docker rm ${idOrName} failed: ${daemonMessage(err)}`);
    }
  }

  /** Removes every container, then image, then network carrying `label=value`. */
  async removeLabelled(label: string, value: string): Promise<{ containers: number; images: number; networks: number }> {
    const filter = { label: [`${label}=${value}`] };
    const containers = await this.docker.listContainers({ all: true, filters: filter });
    for (const c of containers) await this.stopAndRemove(c.Id, 2);
    const images = await this.docker.listImages({ filters: filter });
    for (const i of images) await this.docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
    const networks = await this.docker.listNetworks({ filters: filter });
    for (const n of networks) await this.docker.getNetwork(n.Id).remove().catch(() => undefined);
    return { containers: containers.length, images: images.length, networks: networks.length };
  }
}
