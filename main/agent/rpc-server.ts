import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { FramewormError } from '../common/errors.js';
import { toContractError, type Dispatcher } from './dispatch.js';

export type { HandlerContext, HandlerTable } from './dispatch.js';
export { toContractError } from './dispatch.js';

const MAX_RPC_BODY = 1024 * 1024;
/**
 * Open RPC connections at most. The CLI uses one per command and the GUI a few. Past the cap the
 * oldest connection that never sent a request is dropped for the new one: a flood of idle
 * connections can neither take the descriptors that endpoints and the agent's own files need,
 * nor lock `agent status` and `agent stop` out (a real client sends its request at once).
 */
export const MAX_RPC_CONNECTIONS = 64;
// A request (headers and the small JSON body) must arrive promptly; the answer may stream for
// as long as the operation runs, which these limits do not touch.
const RPC_HEADERS_TIMEOUT_MS = 10_000;
const RPC_REQUEST_TIMEOUT_MS = 30_000;

/**
 * The control plane's transport for the CLI and web clients: `POST /rpc/<channel>` with a JSON
 * argument and a bearer token, answered as NDJSON lines (`{progress}` … then `{result}` or
 * `{error}`) so long operations stream their steps. Bound to loopback only.
 */
export class RpcServer {
  private readonly server: http.Server;
  /** Every open connection, and those that have not sent a request yet (oldest first). */
  private readonly open = new Set<Socket>();
  private readonly silent = new Set<Socket>();

  constructor(
    private readonly dispatch: Dispatcher,
    private readonly token: string,
  ) {
    this.server = http.createServer(
      { headersTimeout: RPC_HEADERS_TIMEOUT_MS, requestTimeout: RPC_REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 2_000 },
      (req, res) => void this.handle(req, res),
    );
    this.server.on('connection', (socket: Socket) => this.admit(socket));
    this.server.on('request', (req: http.IncomingMessage) => this.silent.delete(req.socket));
  }

  /** Applies MAX_RPC_CONNECTIONS: evicts the oldest silent connection, else the new one. */
  private admit(socket: Socket): void {
    this.open.add(socket);
    this.silent.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.silent.delete(socket);
    });
    if (this.open.size <= MAX_RPC_CONNECTIONS) return;
    // Sets iterate in insertion order: the first silent socket is the one idle the longest.
    const oldest = this.silent.values().next().value;
    (oldest !== undefined && oldest !== socket ? oldest : socket).destroy();
  }

  /** Listens on 127.0.0.1 and resolves with the port. */
  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorised(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.replace(/^Bearer\s+/i, ''));
    const expected = Buffer.from(this.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const match = /^\/rpc\/([a-z._]+)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      return;
    }
    if (!this.authorised(req)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'bad token' }));
      return;
    }
    const channel = match[1] ?? '';
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const send = (line: object): void => {
      if (!res.writableEnded) res.write(`${JSON.stringify(line)}\n`);
    };
    const cancel = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) cancel.abort();
    });
    let args: unknown;
    try {
      args = await readJson(req);
    } catch (err) {
      send({ error: toContractError(err) });
      res.end();
      return;
    }
    send(
      await this.dispatch(channel, args, {
        progress: (p) => send({ progress: p }),
        push: (pushChannel, payload) => send({ push: { channel: pushChannel, payload } }),
        signal: cancel.signal,
      }),
    );
    res.end();
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_RPC_BODY) throw new FramewormError('E_USAGE', 'control-plane request is too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FramewormError('E_USAGE', 'control-plane request body is not valid JSON');
  }
}
