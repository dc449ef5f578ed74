import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { ChannelArgs, ChannelResult, ContractError, ProgressEvent, RequestChannel } from '../../preload/contract.js';
import { REQUEST_CHANNELS } from '../../preload/contract.js';
import { FramewormError, toFramewormError } from '../common/errors.js';

export interface HandlerContext {
  /** Streams a progress step to the caller while the request runs. */
  progress(event: ProgressEvent): void;
  /** Aborted when the caller goes away before the answer (Ctrl-C on the CLI): long steps cancel. */
  readonly signal: AbortSignal;
}

/** One handler per request channel; the same table serves the agent, Electron IPC and web mode. */
export type HandlerTable = {
  readonly [C in RequestChannel]: (args: ChannelArgs<C>, ctx: HandlerContext) => Promise<ChannelResult<C>>;
};

const MAX_RPC_BODY = 1024 * 1024;

/** Serialises an error for the wire: code, one-line message, optional detail. */
export function toContractError(err: unknown): ContractError {
  const e = toFramewormError(err);
  return e.detail === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, detail: e.detail };
}

/**
 * The control plane's transport for the CLI and web clients: `POST /rpc/<channel>` with a JSON
 * argument and a bearer token, answered as NDJSON lines (`{progress}` … then `{result}` or
 * `{error}`) so long operations stream their steps. Bound to loopback only.
 */
export class RpcServer {
  private readonly server: http.Server;

  constructor(
    private readonly handlers: HandlerTable,
    private readonly token: string,
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
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
    const match = /^\/rpc\/([a-z.]+)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      return;
    }
    if (!this.authorised(req)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'bad token' }));
      return;
    }
    const channel = match[1] as RequestChannel;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const send = (line: object): void => {
      if (!res.writableEnded) res.write(`${JSON.stringify(line)}\n`);
    };
    const cancel = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) cancel.abort();
    });
    try {
      if (!REQUEST_CHANNELS.includes(channel)) throw new FramewormError('E_USAGE', `unknown control-plane channel '${channel}'`);
      const args = await readJson(req);
      const handler = this.handlers[channel] as (a: unknown, c: HandlerContext) => Promise<unknown>;
      const result = await handler(args, { progress: (p) => send({ progress: p }), signal: cancel.signal });
      send({ result });
    } catch (err) {
      send({ error: toContractError(err) });
    }
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
