/**
 * Web mode (`frameworm ui --web`): the GUI for a browser, served on 127.0.0.1 by a client of the
 * workspace's control plane — it never hosts one. It serves the built renderer, relays
 * `POST /rpc/<channel>` to the agent's RPC unchanged (the same NDJSON stream: `{progress}`,
 * `{push}` lines, then `{result}` or `{error}`), fans the agent's pushes out over a WebSocket
 * at `/ws` as `{channel, payload}` text frames, and stores dropped files (`POST /upload`).
 *
 * Every request is checked in one order: Host (403), Origin (403), then the token (401) where
 * the route needs one. See WebAuth for the handshake.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { REQUEST_CHANNELS } from '../../preload/contract.js';
import type { PushMessage } from '../agent/push-hub.js';
import { FramewormError } from '../common/errors.js';
import { receiveUpload } from './upload.js';
import { rendererBuilt, resolveStatic } from './static-files.js';
import { WebAuth } from './web-auth.js';

/** Where the agent's RPC listens, with its bearer token (from the agent record). */
export interface AgentEndpoint {
  readonly port: number;
  readonly token: string;
}

/** Options of a WebServer. */
export interface WebServerOptions {
  readonly workspace: string;
  /** The per-run token (printed in the URL). */
  readonly token: string;
  /** The built renderer (renderer/dist). */
  readonly rendererDir: string;
  /** The running agent's RPC endpoint, starting the agent when none runs. */
  readonly agent: () => Promise<AgentEndpoint>;
  /** The upload limit in force (read per upload, so an edited config applies). */
  readonly maxUploadBytes: () => number;
}

/**
 * Channels the browser may not call: stopping the control plane belongs to the CLI
 * (`frameworm agent stop`); pushes come over /ws, not a second long-running RPC per tab.
 */
const WEB_HIDDEN_CHANNELS: ReadonlySet<string> = new Set(['agent.shutdown', 'push.follow']);

/** The routes, pinned by a test: anything else is 404. */
export const WEB_ROUTES: readonly string[] = [
  'GET / (the GUI; ?token=T opens the session)',
  'GET /<file of renderer/dist>',
  'POST /rpc/<channel>',
  'POST /upload?name=<file name>',
  'GET /ws (WebSocket upgrade)',
];

/** WebSocket liveness: a client that does not answer a ping within this period is dropped. */
const WS_PING_MS = 30_000;

const NOT_BUILT_PAGE = `<!doctype html><meta charset="utf-8"><title>Frameworm Deploy</title>
<h1>The GUI is not built</h1><p>renderer not built: npm run build:renderer</p>`;
const NEED_TOKEN_PAGE = `<!doctype html><meta charset="utf-8"><title>Frameworm Deploy</title>
<h1>Not signed in</h1><p>Open the address that <code>frameworm ui --web</code> printed (it carries the token).</p>`;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The token is in the first URL only; never send it on as a Referer.
  'referrer-policy': 'no-referrer',
} as const;

/** The web GUI server of one `frameworm ui --web` run. */
export class WebServer {
  private readonly server: http.Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly sockets = new Set<WebSocket>();
  private readonly connections = new Set<Socket>();
  private auth: WebAuth | null = null;
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: WebServerOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('connection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
  }

  /** Listens on 127.0.0.1 (port 0: a free one) and resolves with the port. E_PORT_IN_USE when taken. */
  async listen(port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(err.code === 'EADDRINUSE' ? new FramewormError('E_PORT_IN_USE', `port ${port} on 127.0.0.1 is in use; pick another with --port`) : err);
      };
      this.server.once('error', onError);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.auth = new WebAuth(this.options.token, bound);
    this.pingTimer = setInterval(() => this.pingAll(), WS_PING_MS);
    this.pingTimer.unref();
    return bound;
  }

  /** The address to open, with the token that starts the session. */
  url(): string {
    return `http://127.0.0.1:${this.requireAuth().port}/?token=${this.options.token}`;
  }

  /** Sends one push message to every open WebSocket. */
  broadcast(message: PushMessage): void {
    const frame = JSON.stringify({ channel: message.channel, payload: message.payload });
    for (const ws of this.sockets) if (ws.readyState === ws.OPEN) ws.send(frame);
  }

  async close(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private requireAuth(): WebAuth {
    if (!this.auth) throw new FramewormError('E_INTERNAL', 'the web server is not listening');
    return this.auth;
  }

  private pingAll(): void {
    for (const ws of this.sockets) {
      const alive = ws as WebSocket & { frameworm_alive?: boolean };
      if (alive.frameworm_alive === false) {
        ws.terminate();
        continue;
      }
      alive.frameworm_alive = false;
      ws.ping();
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const auth = this.requireAuth();
    if (!auth.hostAllowed(req)) return sendJson(res, 403, { code: 'E_FORBIDDEN', message: 'foreign Host header' });
    if (!auth.originAllowed(req)) return sendJson(res, 403, { code: 'E_FORBIDDEN', message: 'foreign Origin' });
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    try {
      const rpc = /^\/rpc\/([a-z._]+)$/.exec(pathname);
      if (rpc && req.method === 'POST') return await this.guarded(req, res, () => this.proxyRpc(req, res, rpc[1] ?? ''));
      if (pathname === '/upload' && req.method === 'POST') return await this.guarded(req, res, () => this.upload(req, res, query.get('name')));
      if (req.method === 'GET' || req.method === 'HEAD') return this.serveStatic(req, res, pathname, query);
      return sendJson(res, 404, { code: 'E_NOT_FOUND', message: 'not found' });
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    }
  }

  private async guarded(req: http.IncomingMessage, res: http.ServerResponse, fn: () => Promise<void>): Promise<void> {
    if (!this.requireAuth().authorised(req)) {
      req.resume();
      return sendJson(res, 401, { code: 'E_UNAUTHORIZED', message: 'missing or wrong token: open the address frameworm ui --web printed' });
    }
    await fn();
  }

  private serveStatic(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, query: URLSearchParams): void {
    const auth = this.requireAuth();
    const isIndex = pathname === '/' || pathname === '/index.html';
    if (isIndex && query.has('token')) {
      // The handshake: the token becomes a cookie, and the address bar loses it.
      if (!auth.tokenMatches(query.get('token'))) return sendHtml(res, 401, NEED_TOKEN_PAGE);
      res.writeHead(302, { ...SECURITY_HEADERS, location: '/', 'set-cookie': auth.sessionCookie(), 'cache-control': 'no-store' }).end();
      return;
    }
    if (isIndex && !auth.authorised(req)) return sendHtml(res, 401, NEED_TOKEN_PAGE);
    const found = resolveStatic(this.options.rendererDir, pathname);
    if (!found) {
      if (!rendererBuilt(this.options.rendererDir) && isIndex) return sendHtml(res, 503, NOT_BUILT_PAGE);
      return sendJson(res, 404, { code: 'E_NOT_FOUND', message: 'not found' });
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': found.contentType,
      // Vite names assets by content hash; the index must be fetched again to see a new build.
      'cache-control': isIndex ? 'no-cache' : 'public, max-age=3600',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(found.file).on('error', () => res.destroy()).pipe(res);
  }

  /** Relays one call to the agent's RPC, streaming both ways; the browser leaving cancels it. */
  private async proxyRpc(req: http.IncomingMessage, res: http.ServerResponse, channel: string): Promise<void> {
    if (!(REQUEST_CHANNELS as readonly string[]).includes(channel) || WEB_HIDDEN_CHANNELS.has(channel)) {
      req.resume();
      return sendJson(res, 404, { code: 'E_NOT_FOUND', message: `no channel ${channel} for the web GUI` });
    }
    let agent: AgentEndpoint;
    try {
      agent = await this.options.agent();
    } catch (err) {
      req.resume();
      return sendNdjsonError(res, 'E_AGENT', `the control plane is not available: ${err instanceof Error ? err.message : String(err)}`);
    }
    await new Promise<void>((resolve) => {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: agent.port,
          method: 'POST',
          path: `/rpc/${channel}`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${agent.token}` },
        },
        (answer) => {
          res.writeHead(answer.statusCode === 200 ? 200 : 502, { ...SECURITY_HEADERS, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
          answer.pipe(res);
          answer.once('end', resolve);
          answer.once('error', () => {
            res.destroy();
            resolve();
          });
        },
      );
      upstream.once('error', (err) => {
        if (!res.headersSent) sendNdjsonError(res, 'E_AGENT', `lost the control plane: ${err.message}`);
        else res.destroy();
        resolve();
      });
      // The browser went away before the answer: close upstream so the agent cancels the call.
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy();
        resolve();
      });
      req.pipe(upstream);
    });
  }

  private async upload(req: http.IncomingMessage, res: http.ServerResponse, name: string | null): Promise<void> {
    const outcome = await receiveUpload(req, this.options.workspace, this.options.maxUploadBytes(), name);
    if (outcome.status === 200) return sendJson(res, 200, { path: outcome.path, bytes: outcome.bytes });
    // An oversized body may still be arriving: answer, then close rather than read it all.
    res.setHeader('connection', 'close');
    const code = outcome.status === 413 ? 'E_TOO_LARGE' : outcome.status === 400 ? 'E_INPUT' : 'E_INTERNAL';
    return sendJson(res, outcome.status, { code, message: outcome.message });
  }

  /** `/ws`: checks Host, Origin and the session before the WebSocket handshake completes. */
  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const auth = this.requireAuth();
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    if ((req.url ?? '').split('?')[0] !== '/ws') return refuse(404, 'Not Found');
    if (!auth.hostAllowed(req) || !auth.originAllowed(req)) return refuse(403, 'Forbidden');
    if (!auth.authorised(req)) return refuse(401, 'Unauthorized');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const tracked = ws as WebSocket & { frameworm_alive?: boolean };
      tracked.frameworm_alive = true;
      ws.on('pong', () => (tracked.frameworm_alive = true));
      // The socket is one-way (server to browser); a message from the page means nothing.
      ws.on('message', () => {});
      ws.on('error', () => ws.terminate());
      ws.once('close', () => this.sockets.delete(ws));
      this.sockets.add(ws);
    });
  }
}

function sendJson(res: http.ServerResponse, status: number, error: { code: string; message: string } | Record<string, unknown>): void {
  const body = status >= 400 ? { error } : error;
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
}

/** A call that never reached the agent still answers in the RPC's own format. */
function sendNdjsonError(res: http.ServerResponse, code: string, message: string): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' }).end(`${JSON.stringify({ error: { code, message } })}\n`);
}
