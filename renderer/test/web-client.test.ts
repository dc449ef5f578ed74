// @vitest-environment node
/// <reference types="node" />
// The web client against a real HTTP server and a real WebSocket server (the `ws` package, as
// web mode uses): NDJSON replies cut at arbitrary bytes, errors with codes, raw-body upload, and
// pushes that survive the socket being dropped.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsClient, WebSocketServer } from 'ws';
import type { ProgressEvent } from '../../preload/contract';
import { ClientError } from '../src/bridge/client-types';
import { NdjsonDecoder } from '../src/bridge/ndjson';
import { backoffDelay, pushSocketUrl, type SocketLike } from '../src/bridge/push-socket';
import { WebClient } from '../src/bridge/web-client';

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

const servers: Server[] = [];
const clients: WebClient[] = [];

async function serve(handler: Handler): Promise<{ origin: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks), res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The browser WebSocket API, from the `ws` client (Node 20 has no global WebSocket). */
function wsSocket(url: string): SocketLike {
  const ws = new WsClient(url);
  const s: SocketLike = { onopen: null, onclose: null, onerror: null, onmessage: null, close: () => ws.close() };
  ws.on('open', () => s.onopen?.(undefined));
  ws.on('close', () => s.onclose?.(undefined));
  ws.on('error', () => s.onerror?.(undefined));
  ws.on('message', (data: Buffer) => s.onmessage?.({ data: data.toString('utf8') }));
  return s;
}

function client(origin: string): WebClient {
  const c = new WebClient({ origin, createSocket: wsSocket, minReconnectMs: 20, maxReconnectMs: 50 });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.dispose();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('web client requests', () => {
  it('posts JSON to /rpc/<channel> and reads progress, pushes and the result from NDJSON cut anywhere', async () => {
    let seen: { url?: string; method?: string; type?: string; body?: unknown } = {};
    const { origin } = await serve((req, body, res) => {
      seen = { url: req.url, method: req.method, type: req.headers['content-type'], body: JSON.parse(body.toString()) };
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const reply = Buffer.from([
        JSON.stringify({ progress: { step: 'export', message: 'exporting — ½ done', value: 0.5, task_id: 't1' } }),
        JSON.stringify({ push: { channel: 'event', payload: { id: 4, ts: '2026-01-01T00:00:00Z', model: 'm', event: 'deploy' } } }),
        JSON.stringify({ result: { name: 'm', version: 'v1', type: 'dcgan', target: 'embedded', stage: 'production', endpoint: null, archived_version: null, export_dir: '/x' } }),
        '',
      ].join('\n'));
      // Byte-sized writes split the lines and the multi-byte characters.
      let i = 0;
      const step = (): void => {
        if (i >= reply.length) {
          res.end();
          return;
        }
        res.write(reply.subarray(i, i + 7));
        i += 7;
        setImmediate(step);
      };
      step();
    });
    const progress: ProgressEvent[] = [];
    const pushes: [string, unknown][] = [];
    const result = await client(origin).invoke('deploy.start', { model: 'a.pt', name: 'm' }, (p) => progress.push(p), (ch, payload) => pushes.push([ch, payload]));
    expect(seen).toEqual({ url: '/rpc/deploy.start', method: 'POST', type: 'application/json', body: { model: 'a.pt', name: 'm' } });
    expect(progress).toEqual([{ step: 'export', message: 'exporting — ½ done', value: 0.5, task_id: 't1' }]);
    expect(pushes).toEqual([['event', { id: 4, ts: '2026-01-01T00:00:00Z', model: 'm', event: 'deploy' }]]);
    expect(result.version).toBe('v1');
  });

  it('rethrows an error line as an Error with the code and detail', async () => {
    const { origin } = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(`${JSON.stringify({ error: { code: 'E_NOT_FOUND', message: 'no model nope', detail: { name: 'nope' } } })}\n`);
    });
    const err = await client(origin).invoke('deploy.status', { name: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'E_NOT_FOUND', message: 'no model nope', detail: { name: 'nope' } });
  });

  it('turns 401/403 into E_AUTH and a body without a result into E_PROTOCOL', async () => {
    const { origin } = await serve((req, _body, res) => {
      if (req.url === '/rpc/agent.info') {
        res.writeHead(403);
        res.end('forbidden');
      } else {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.end(`${JSON.stringify({ progress: { step: 'a', message: 'b' } })}\n`);
      }
    });
    const c = client(origin);
    await expect(c.invoke('agent.info', {})).rejects.toMatchObject({ code: 'E_AUTH' });
    await expect(c.invoke('deploy.list', {})).rejects.toMatchObject({ code: 'E_PROTOCOL' });
  });

  it('uploads a file as the raw body with its name in ?name= and x-filename, and returns the server path', async () => {
    let got: { url?: string; name?: string; header?: string; body?: string } = {};
    const { origin } = await serve((req, body, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      got = { url: url.pathname, name: url.searchParams.get('name') ?? '', header: decodeURIComponent(String(req.headers['x-filename'])), body: body.toString() };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: '/tmp/frameworm-upload-1/mödel.pt' }));
    });
    const path = await client(origin).importFile(new File(['weights'], 'mödel.pt'));
    expect(got).toEqual({ url: '/upload', name: 'mödel.pt', header: 'mödel.pt', body: 'weights' });
    expect(path).toBe('/tmp/frameworm-upload-1/mödel.pt');
  });
});

describe('web client pushes', () => {
  it('delivers /ws messages to on() listeners and reconnects after the socket drops', async () => {
    const { origin, server } = await serve((_req, _body, res) => res.end());
    const wss = new WebSocketServer({ noServer: true });
    let connections = 0;
    server.on('upgrade', (req, socket, head) => {
      if (req.url !== '/ws') return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => {
        connections += 1;
        ws.send(JSON.stringify({ channel: 'deployment.changed', payload: { name: `m${connections}` } }));
        ws.send('not json');
        ws.send(JSON.stringify({ channel: 'some.future.channel', payload: {} }));
        // The first connection is dropped by the server, as when the agent restarts.
        if (connections === 1) setTimeout(() => ws.terminate(), 10);
      });
    });
    const c = client(origin);
    const names: string[] = [];
    const states: string[] = [];
    c.onConnection((s) => states.push(s));
    const twoPushes = new Promise<void>((resolve) => {
      c.on('deployment.changed', ({ name }) => {
        names.push(name);
        if (names.length === 2) resolve();
      });
    });
    await twoPushes;
    expect(names).toEqual(['m1', 'm2']);
    expect(states.filter((s) => s === 'open')).toHaveLength(2);
    expect(states).toContain('closed');
    wss.close();
  });

  it('computes the push URL and a capped backoff', () => {
    expect(pushSocketUrl('http://127.0.0.1:7300')).toBe('ws://127.0.0.1:7300/ws');
    expect(pushSocketUrl('https://box.example:8443')).toBe('wss://box.example:8443/ws');
    const mid = (): number => 0.5;
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 500, 15_000, mid))).toEqual([500, 1000, 2000, 4000, 15_000]);
  });
});

describe('NDJSON decoder', () => {
  it('joins lines split across chunks and returns a final line without newline', () => {
    const d = new NdjsonDecoder();
    const bytes = new TextEncoder().encode('{"a":"é"}\n\n{"b":2}');
    const lines: string[] = [];
    for (const b of bytes) lines.push(...d.push(new Uint8Array([b])));
    lines.push(...d.end());
    expect(lines).toEqual(['{"a":"é"}', '{"b":2}']);
  });
});
