/**
 * A backend that forwards /predict to a running container of the generated server (the docker
 * target). The stable endpoint in front of it still times and records every request, so the
 * deployment's p50/p95/p99 and error rate cover the container exactly as they cover the
 * embedded runtime.
 *
 * Answers pass through byte for byte: 200 bodies are not re-encoded (RawJson), 4xx become
 * RequestErrors with the container's own message and detail, 5xx and a container that does not
 * answer (killed, crashed, out of memory) become 500s that count toward the error rate.
 */
import http from 'node:http';
import type { ContainerStateView } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { Backend } from '../serving/backend.js';
import { RawJson } from '../serving/http-io.js';
import { InFlight } from '../serving/in-flight.js';
import { RequestError } from '../serving/schemas/types.js';
import type { ContainerState, DockerClient } from './docker-client.js';

export interface ContainerBackendOptions {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly client: DockerClient;
  readonly containerId: string;
  readonly containerName: string;
  /** Image reference and id the container runs. */
  readonly image: string;
  readonly imageId: string;
  /** 127.0.0.1 port the container's server is published on. */
  readonly hostPort: number;
  /** Longest a forwarded request may take before it is abandoned (the endpoint answers 504 first). */
  readonly requestTimeoutMs: number;
  /** Concurrent connections to the container (default 64). */
  readonly maxSockets?: number;
  /** Grace for the container's server to finish on stop, seconds (default 10). */
  readonly stopGraceS?: number;
}

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

export class ContainerBackend implements Backend {
  private readonly inFlight = new InFlight();
  private disposed: Promise<void> | null = null;
  private readonly agent: http.Agent;

  constructor(private readonly options: ContainerBackendOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, keepAliveMsecs: 1_000 });
  }

  get version(): string {
    return this.options.version;
  }

  get type(): ModelType {
    return this.options.type;
  }

  get containerId(): string {
    return this.options.containerId;
  }

  async handlePredict(body: unknown): Promise<object> {
    // Counted before the first await: see Backend.handlePredict.
    return this.inFlight.track(async () => {
      if (this.disposed) throw new FramewormError('E_RUNTIME', `version ${this.version} has been stopped`);
      const answer = await this.post('/predict', Buffer.from(JSON.stringify(body)));
      if (answer.status === 200) return new RawJson(answer.body);
      const parsed = parseError(answer.body);
      if (answer.status >= 400 && answer.status < 500) throw new RequestError(answer.status, parsed.error, parsed.detail);
      throw new FramewormError('E_RUNTIME', `container ${this.options.containerName} answered ${answer.status}: ${parsed.error}`);
    });
  }

  drain(): Promise<void> {
    return this.inFlight.drain();
  }

  /** Waits for in-flight requests, then stops and removes the container. */
  dispose(): Promise<void> {
    this.disposed ??= this.drain().then(async () => {
      this.agent.destroy();
      await this.options.client.stopAndRemove(this.options.containerId, this.options.stopGraceS ?? 10);
    });
    return this.disposed;
  }

  describe(): object {
    return {
      kind: 'container',
      model: this.options.name,
      version: this.version,
      type: this.type,
      container: this.options.containerName,
      container_id: this.options.containerId,
      image: this.options.image,
      image_id: this.options.imageId,
      host_port: this.options.hostPort,
      in_flight: this.inFlight.count,
    };
  }

  /** The container's state from the daemon; never throws. */
  async state(): Promise<ContainerStateView> {
    const o = this.options;
    const base = { id: o.containerId, name: o.containerName, image: o.image, image_id: o.imageId, host_port: o.hostPort };
    let s: ContainerState | null;
    try {
      s = await o.client.inspectState(o.containerId);
    } catch (err) {
      const e = err instanceof Error ? err.message : String(err);
      return { ...base, state: 'unknown', health: 'unknown', running: false, exit_code: null, oom_killed: false, started_at: null, finished_at: null, error: e };
    }
    if (!s) return { ...base, state: 'missing', health: 'none', running: false, exit_code: null, oom_killed: false, started_at: null, finished_at: null };
    return {
      ...base,
      state: s.status,
      health: s.health,
      running: s.running,
      exit_code: s.running ? null : s.exitCode,
      oom_killed: s.oomKilled,
      started_at: s.startedAt,
      finished_at: s.running ? null : s.finishedAt,
    };
  }

  private post(route: string, payload: Buffer): Promise<Answer> {
    const o = this.options;
    return new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: o.hostPort,
          path: route,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': payload.length },
          timeout: o.requestTimeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks) }));
          res.on('error', (err) => reject(this.unreachable(err)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${o.requestTimeoutMs} ms`)));
      req.on('error', (err) => reject(this.unreachable(err)));
      req.end(payload);
    });
  }

  private unreachable(err: Error): FramewormError {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code ? `${code}: ${err.message}` : err.message;
    return new FramewormError('E_RUNTIME', `container ${this.options.containerName} (${this.version}) is not answering on 127.0.0.1:${this.options.hostPort} (${why}); see frameworm deploy status --name ${this.options.name}`);
  }
}

function parseError(body: Buffer): { error: string; detail: unknown } {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { error?: unknown; detail?: unknown };
    if (doc && typeof doc.error === 'string') return { error: doc.error, detail: doc.detail ?? null };
  } catch {
    /* not JSON */
  }
  const text = body.toString('utf8').trim().slice(0, 300);
  return { error: text || 'empty answer', detail: null };
}
