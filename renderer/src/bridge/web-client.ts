/**
 * The control-plane client of web mode (`frameworm ui --web`): the same contract as the Electron
 * preload, over the page's own origin.
 *
 * Requests: `POST /rpc/<channel>` with the arguments as a JSON body; the session cookie set when
 * the page was opened authenticates it (same-origin credentials). The reply is NDJSON, one object
 * per line: `{"progress": ProgressEvent}` and `{"push": {channel, payload}}` while the call runs,
 * then exactly one `{"result": …}` or `{"error": {code, message, detail}}`.
 * Pushes: a WebSocket to `/ws` (ws:// or wss:// after the page), messages `{channel, payload}`.
 * Upload: `POST /upload?name=<file name>` with the file as the raw body (the name also in
 * `x-filename`, URI-encoded); the reply is `{"path": "<temporary file on the server>", …}`.
 */
import type { ChannelArgs, ChannelResult, ProgressEvent, PushChannel, PushChannels, RequestChannel } from '../../../preload/contract';
import { ClientError, type ConnectionState, type PushListener, type RendererClient } from './client-types';
import { NdjsonDecoder } from './ndjson';
import { PushBatcher } from './push-batcher';
import { PushHub } from './push-hub';
import { PushSocket, pushSocketUrl, type SocketFactory, type SocketLike } from './push-socket';

export interface WebClientOptions {
  /** The page's origin, e.g. `http://127.0.0.1:7300`. */
  readonly origin: string;
  readonly fetch?: typeof fetch;
  readonly createSocket?: SocketFactory;
  readonly minReconnectMs?: number;
  readonly maxReconnectMs?: number;
}

type ReplyLine =
  | { readonly progress: ProgressEvent }
  | { readonly push: { readonly channel: string; readonly payload: unknown } }
  | { readonly result: unknown }
  | { readonly error: { readonly code: string; readonly message: string; readonly detail?: unknown } };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function parseLine(line: string): ReplyLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ClientError({ code: 'E_PROTOCOL', message: `the server sent a reply line that is not JSON: ${line.slice(0, 80)}` });
  }
  if (isObject(v) && ('progress' in v || 'push' in v || 'result' in v || 'error' in v)) return v as ReplyLine;
  throw new ClientError({ code: 'E_PROTOCOL', message: `the server sent an unknown reply line: ${line.slice(0, 80)}` });
}

/** The contract error inside a non-2xx reply, or one made from the HTTP status. */
async function httpError(res: Response): Promise<ClientError> {
  const text = await res.text().catch(() => '');
  for (const line of text.split('\n')) {
    try {
      const v: unknown = JSON.parse(line);
      if (isObject(v) && isObject(v.error) && typeof v.error.message === 'string') {
        return new ClientError({ code: typeof v.error.code === 'string' ? v.error.code : `E_HTTP_${res.status}`, message: v.error.message, detail: v.error.detail });
      }
    } catch {
      // not JSON: fall through to the status
    }
  }
  if (res.status === 401 || res.status === 403) {
    return new ClientError({ code: 'E_AUTH', message: `the server refused the request (HTTP ${res.status}); open the URL that \`frameworm ui --web\` printed` });
  }
  return new ClientError({ code: `E_HTTP_${res.status}`, message: `HTTP ${res.status} ${res.statusText}`.trim() });
}

/** The browser's WebSocket behind the SocketLike surface. */
function browserSocket(url: string): SocketLike {
  const ws = new WebSocket(url);
  const s: SocketLike = { onopen: null, onclose: null, onerror: null, onmessage: null, close: () => ws.close() };
  ws.onopen = (e) => s.onopen?.(e);
  ws.onclose = (e) => s.onclose?.(e);
  ws.onerror = (e) => s.onerror?.(e);
  ws.onmessage = (e) => s.onmessage?.(e);
  return s;
}

export class WebClient implements RendererClient {
  readonly mode = 'web' as const;
  private readonly hub = new PushHub();
  private readonly socket: PushSocket;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: WebClientOptions) {
    // Bound: calling an unbound `fetch` as a method throws "Illegal invocation" in browsers.
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    const createSocket: SocketFactory = opts.createSocket ?? browserSocket;
    // Pushes reach the stores in batches (one React commit for all of them).
    const batcher = new PushBatcher((channel, payload) => this.hub.emitUnknown(channel, payload));
    this.socket = new PushSocket({
      url: pushSocketUrl(opts.origin),
      createSocket,
      onMessage: (channel, payload) => batcher.push(channel, payload),
      onState: (state) => {
        batcher.flush();
        this.hub.setConnection(state);
      },
      minDelayMs: opts.minReconnectMs,
      maxDelayMs: opts.maxReconnectMs,
    });
  }

  /** Calls one request channel; progress and pushes arrive on the callbacks while it runs. */
  async invoke<C extends RequestChannel>(
    channel: C,
    args: ChannelArgs<C>,
    onProgress?: (p: ProgressEvent) => void,
    onPush?: <P extends PushChannel>(channel: P, payload: PushChannels[P]) => void,
  ): Promise<ChannelResult<C>> {
    let res: Response;
    try {
      res = await this.fetchFn(new URL(`/rpc/${channel}`, this.opts.origin), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
        body: JSON.stringify(args ?? {}),
      });
    } catch (err) {
      throw new ClientError({ code: 'E_UNREACHABLE', message: `cannot reach the control plane: ${err instanceof Error ? err.message : String(err)}` });
    }
    if (!res.ok) throw await httpError(res);
    if (!res.body) throw new ClientError({ code: 'E_PROTOCOL', message: `the server sent no body for ${channel}` });

    const decoder = new NdjsonDecoder();
    const reader = res.body.getReader();
    const handle = (line: string): { done: true; value: ChannelResult<C> } | null => {
      const msg = parseLine(line);
      if ('progress' in msg) onProgress?.(msg.progress);
      else if ('push' in msg) onPush?.(msg.push.channel as PushChannel, msg.push.payload as PushChannels[PushChannel]);
      else if ('error' in msg) throw new ClientError(msg.error);
      else return { done: true, value: msg.result as ChannelResult<C> };
      return null;
    };
    try {
      for (;;) {
        const { done, value } = await reader.read();
        const lines = done ? decoder.end() : decoder.push(value);
        for (const line of lines) {
          const r = handle(line);
          if (r) return r.value;
        }
        if (done) break;
      }
    } finally {
      // Stop reading a body the server may still hold open after the result.
      reader.cancel().catch(() => undefined);
    }
    throw new ClientError({ code: 'E_PROTOCOL', message: `the reply to ${channel} ended without a result` });
  }

  /** Subscribes to a push channel; the first subscription opens the WebSocket. */
  on<P extends PushChannel>(channel: P, fn: PushListener<P>): () => void {
    const off = this.hub.on(channel, fn);
    this.socket.start();
    return off;
  }

  onConnection(fn: (state: ConnectionState) => void): () => void {
    return this.hub.onConnection(fn);
  }

  /** Uploads the file as the raw body; the server streams it to a temporary file. */
  async importFile(file: File): Promise<string> {
    let res: Response;
    try {
      const url = new URL('/upload', this.opts.origin);
      url.searchParams.set('name', file.name);
      res = await this.fetchFn(url, {
        method: 'POST',
        credentials: 'same-origin',
        // The name rides in the query (the server's pinned route) and, URI-encoded, in
        // x-filename; the server keeps only its extension, so inspection sees .pt / .onnx.
        headers: { 'content-type': 'application/octet-stream', 'x-filename': encodeURIComponent(file.name) },
        body: file,
      });
    } catch (err) {
      throw new ClientError({ code: 'E_UNREACHABLE', message: `upload of ${file.name} failed: ${err instanceof Error ? err.message : String(err)}` });
    }
    if (!res.ok) throw await httpError(res);
    const body: unknown = await res.json();
    if (isObject(body) && typeof body.path === 'string') return body.path;
    throw new ClientError({ code: 'E_PROTOCOL', message: 'the upload reply carries no path' });
  }

  /** Closes the push socket for good. */
  dispose(): void {
    this.socket.close();
  }
}
