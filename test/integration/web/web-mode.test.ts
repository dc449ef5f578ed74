/**
 * `frameworm ui --web` through the real CLI, a real agent and real HTTP / WebSocket clients:
 * the token handshake, Host and Origin checks, the RPC relay, pushes, uploads, static files and
 * cancelling a deploy task from the browser's side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { WEB_ROUTES } from '../../../main/web/web-server.js';
import { disposeWorkspace, makeWorkspace, repoRoot, runCli } from '../cli/cli-harness.js';

const UPLOAD_LIMIT = 4096;
const ws = makeWorkspace(47310, `  max_upload_bytes: ${UPLOAD_LIMIT}\n`);
const model = path.join(ws, 'mlp.onnx');
const checkpoint = path.join(repoRoot, 'test/fixtures/compat/dcgan/best.pt');
let ui: ChildProcess;
let port = 0;
let token = '';
let cookie = '';

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One raw HTTP request: the path goes out exactly as given (no URL normalisation). */
function request(method: string, rawPath: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A call through the relay, answered as NDJSON lines. */
async function rpc<T>(channel: string, args: unknown, auth: Record<string, string> = { cookie }): Promise<{ lines: Record<string, unknown>[]; result: T }> {
  const r = await request('POST', `/rpc/${channel}`, { 'content-type': 'application/json', origin: `http://127.0.0.1:${port}`, ...auth }, JSON.stringify(args));
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/x-ndjson');
  const lines = r.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, result: lines.at(-1)?.['result'] as T };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

/** Opens /ws with the given headers; resolves with the socket, or the refusal's status. */
function openSocket(headers: Record<string, string>): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('error', reject);
  });
}

beforeAll(async () => {
  fs.writeFileSync(model, buildMlp([4, 8, 3], 5));
  const wanted = await freePort();
  ui = spawn(process.execPath, [path.join(repoRoot, 'bin/frameworm.js'), 'ui', '--web', '--port', String(wanted), '--workspace', ws], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  ui.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    ui.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)$/m.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    ui.once('exit', (code) => reject(new Error(`frameworm ui exited ${code}: ${stderr}`)));
  });
  const parsed = new URL(url);
  port = Number(parsed.port);
  token = parsed.searchParams.get('token') ?? '';
  expect(port).toBe(wanted);
  cookie = `frameworm_${port}=${token}`;
}, 60_000);

afterAll(async () => {
  if (ui.exitCode === null) {
    const exited = new Promise((resolve) => ui.once('exit', resolve));
    ui.kill('SIGTERM');
    await exited;
  }
  await disposeWorkspace(ws);
}, 60_000);

describe('frameworm ui --web', () => {
  it('without --web and without a desktop to show it on, says so and suggests --web (exit 2)', async () => {
    const r = await runCli(ws, ['ui'], { DISPLAY: '', WAYLAND_DISPLAY: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the desktop app is not installed here');
    expect(r.stderr).toContain('frameworm ui --web');
  });

  it('serves exactly the pinned routes; anything else is 404', async () => {
    expect(WEB_ROUTES).toEqual([
      'GET / (the GUI; ?token=T opens the session)',
      'GET /<file of renderer/dist>',
      'POST /rpc/<channel>',
      'POST /upload?name=<file name>',
      'GET /ws (WebSocket upgrade)',
    ]);
    const auth = { cookie };
    expect((await request('GET', '/rpc/deploy.list', auth)).status).toBe(404);
    expect((await request('PUT', '/upload', auth)).status).toBe(404);
    expect((await request('DELETE', '/', auth)).status).toBe(404);
    expect((await request('POST', '/rpc/no.such', auth)).status).toBe(404);
    // Stopping the control plane is the CLI's; pushes come over /ws.
    expect((await request('POST', '/rpc/agent.shutdown', auth)).status).toBe(404);
    expect((await request('POST', '/rpc/push.follow', auth)).status).toBe(404);
  });

  it('refuses every call without the token (401)', async () => {
    expect((await request('POST', '/rpc/deploy.list', {}, '{}')).status).toBe(401);
    expect((await request('POST', '/rpc/deploy.list', { authorization: 'Bearer wrong' }, '{}')).status).toBe(401);
    expect((await request('POST', '/rpc/deploy.list', { cookie: `frameworm_${port}=${token.slice(1)}x` }, '{}')).status).toBe(401);
    expect((await request('POST', '/upload?name=a.onnx', {}, 'x')).status).toBe(401);
    expect((await request('GET', '/')).status).toBe(401);
    expect((await request('GET', '/?token=nottheone')).status).toBe(401);
    expect(await openSocket({ origin: `http://127.0.0.1:${port}` })).toBe(401);
  });

  it('hands the token over once: a session cookie and a redirect that drops it from the URL', async () => {
    const r = await request('GET', `/?token=${token}`);
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/');
    const setCookie = r.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toContain(`frameworm_${port}=${token}`);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const sessionCookie = setCookie.split(';')[0] ?? '';
    const page = await request('GET', '/', { cookie: sessionCookie });
    if (fs.existsSync(path.join(repoRoot, 'renderer/dist/index.html'))) {
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
    } else {
      expect(page.status).toBe(503);
      expect(page.body).toContain('renderer not built: npm run build:renderer');
    }
    const { result } = await rpc<unknown[]>('deploy.list', {}, { cookie: sessionCookie });
    expect(Array.isArray(result)).toBe(true);
  });

  it('answers 403 to a foreign Origin or Host, even with the token', async () => {
    const auth = { cookie, 'content-type': 'application/json' };
    expect((await request('POST', '/rpc/deploy.list', { ...auth, origin: 'http://evil.example' }, '{}')).status).toBe(403);
    expect((await request('POST', '/rpc/deploy.list', { ...auth, origin: `http://127.0.0.1:${port + 1}` }, '{}')).status).toBe(403);
    expect((await request('POST', '/rpc/deploy.list', { ...auth, host: `evil.example:${port}` }, '{}')).status).toBe(403);
    expect((await request('GET', `/?token=${token}`, { host: `rebound.example:${port}` })).status).toBe(403);
    expect((await request('POST', '/upload?name=a.onnx', { ...auth, origin: 'http://evil.example' }, 'x')).status).toBe(403);
    expect(await openSocket({ cookie, origin: 'http://evil.example' })).toBe(403);
    expect(await openSocket({ cookie, host: `evil.example:${port}` })).toBe(403);
    // localhost is the same page as 127.0.0.1.
    expect((await request('POST', '/rpc/deploy.list', { ...auth, origin: `http://localhost:${port}`, host: `localhost:${port}` }, '{}')).status).toBe(200);
  });

  it('relays RPC calls to the agent in its NDJSON format (bearer token too)', async () => {
    const { lines, result } = await rpc<unknown[]>('deploy.list', {}, { authorization: `Bearer ${token}` });
    expect(lines).toEqual([{ result }]);
    const info = await rpc<{ workspace: string; pid: number }>('agent.info', {});
    expect(info.result.workspace).toBe(fs.realpathSync(ws));
    const bad = await rpc<undefined>('deploy.status', { name: 'nope' });
    expect(bad.lines.at(-1)).toMatchObject({ error: { code: 'E_NOT_FOUND' } });
  });

  it('pushes committed events, deployment changes and metric samples over the WebSocket', async () => {
    const socket = await openSocket({ cookie, origin: `http://127.0.0.1:${port}` });
    if (typeof socket === 'number') throw new Error(`WebSocket refused: ${socket}`);
    const seen: { channel: string; payload: Record<string, unknown> }[] = [];
    const got = (pred: (m: { channel: string; payload: Record<string, unknown> }) => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (seen.some(pred)) resolve();
        };
        socket.on('message', check);
        check();
      });
    socket.on('message', (data: WebSocket.RawData) => seen.push(JSON.parse(data.toString()) as (typeof seen)[number]));
    const deployEvent = got((m) => m.channel === 'event' && m.payload['event'] === 'deploy' && m.payload['model'] === 'mlp');
    const r = await runCli(ws, ['deploy', 'start', '--model', model, '--name', 'mlp', '--json']);
    expect(r.code, r.stderr).toBe(0);
    await deployEvent;
    expect(seen.some((m) => m.channel === 'deployment.changed' && m.payload['name'] === 'mlp')).toBe(true);
    await got((m) => m.channel === 'metrics.sample' && m.payload['name'] === 'mlp');
    const sample = seen.find((m) => m.channel === 'metrics.sample')?.payload;
    expect(sample).toMatchObject({ name: 'mlp', version: 'v1' });
    expect(Object.keys(sample ?? {}).sort()).toEqual(['error_rate', 'name', 'p50_ms', 'p95_ms', 'p99_ms', 'requests_per_s', 'ts', 'version']);
    const history = await rpc<{ name: string }[]>('metrics.history', { name: 'mlp' });
    expect(history.result.length).toBeGreaterThan(0);
    expect(history.result.every((s) => s.name === 'mlp')).toBe(true);
    socket.close();
  }, 120_000);

  it('refuses an upload above max_upload_bytes (413) and stores one below it for deploy.inspect', async () => {
    const auth = { cookie, origin: `http://127.0.0.1:${port}` };
    const tooBig = await request('POST', '/upload?name=big.onnx', auth, Buffer.alloc(UPLOAD_LIMIT + 1));
    expect(tooBig.status).toBe(413);
    const uploads = path.join(ws, '.frameworm/uploads');
    const before = fs.existsSync(uploads) ? fs.readdirSync(uploads) : [];
    expect(before).toEqual([]);
    // A name that tries to climb out of the folder keeps only its extension.
    const ok = await request('POST', `/upload?name=${encodeURIComponent('../../../escape.onnx')}`, auth, fs.readFileSync(model));
    expect(ok.status).toBe(200);
    const stored = (JSON.parse(ok.body) as { path: string }).path;
    expect(path.dirname(stored)).toBe(uploads);
    expect(path.basename(stored)).toMatch(/^[0-9a-f]{32}\.onnx$/);
    expect(fs.statSync(stored).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(stored).equals(fs.readFileSync(model))).toBe(true);
    expect(fs.existsSync(path.join(ws, '..', 'escape.onnx'))).toBe(false);
    const inspected = await rpc<{ format: string }>('deploy.inspect', { model: stored });
    expect(inspected.result.format).toBe('onnx');
  });

  it('never serves a file outside renderer/dist (404 for every traversal form)', async () => {
    for (const p of ['/../package.json', '/%2e%2e/package.json', '/%2E%2E%2Fpackage.json', '/assets/..%2f..%2fpackage.json', '/..%5cpackage.json', '/.%2e/.%2e/package.json', '/%00index.html']) {
      const r = await request('GET', p, { cookie });
      expect(r.status, p).toBe(404);
      expect(r.body, p).not.toContain('frameworm-deploy');
    }
  });

  it('cancels a deploy task from the browser: the task ends as cancelled and nothing is registered', async () => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/rpc/deploy.start',
      headers: { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, cookie, 'content-type': 'application/json' },
    });
    req.end(JSON.stringify({ model: checkpoint, name: 'gan' }));
    const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
    const lines: Record<string, unknown>[] = [];
    let cancelled: Promise<unknown> | null = null;
    await new Promise<void>((resolve) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          buf = buf.slice(nl + 1);
          lines.push(line);
          const taskId = (line['progress'] as { task_id?: string } | undefined)?.task_id;
          if (taskId && !cancelled) cancelled = rpc<{ state: string; cancel_requested: boolean }>('task.cancel', { task_id: taskId });
        }
      });
      res.once('end', resolve);
    });
    const cancel = (await cancelled) as { result: { id: string; cancel_requested: boolean } } | null;
    expect(cancel?.result.cancel_requested).toBe(true);
    expect(lines.at(-1)).toMatchObject({ error: { detail: { cancelled: true, task_id: cancel?.result.id } } });
    const tasks = await rpc<{ id: string; state: string; channel: string; name: string }[]>('task.list', {});
    expect(tasks.result.find((t) => t.id === cancel?.result.id)).toMatchObject({ state: 'cancelled', channel: 'deploy.start', name: 'gan' });
    const list = await rpc<{ name: string }[]>('deploy.list', {});
    expect(list.result.map((d) => d.name)).not.toContain('gan');
    expect(fs.existsSync(path.join(ws, 'experiments/deploy_exports/gan'))).toBe(false);
  }, 120_000);
});
