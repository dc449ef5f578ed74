/**
 * The preload as Electron loads it: the one CommonJS file that `npm run build:preload` makes,
 * evaluated with a fake `require('electron')` (the one faked boundary) and a fake page.
 */
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressEvent, PushChannel } from '../../../preload/contract.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-preload-'));

interface PreloadApi {
  invoke(channel: string, args: unknown, onProgress?: (p: ProgressEvent) => void, onPush?: (c: PushChannel, p: unknown) => void): Promise<unknown>;
  on(channel: string, listener: (payload: unknown) => void): () => void;
  pathForFile(file: unknown): string;
  onNavigate(listener: (target: { model: string }) => void): () => void;
}

/** The renderer side of Electron: what the preload's `require('electron')` gets. */
class FakeIpcRenderer extends EventEmitter {
  readonly invoked: unknown[][] = [];
  reply: (channel: string, args: unknown, callId: string) => unknown = () => ({ result: null });
  async invoke(channel: string, args: unknown, callId: string): Promise<unknown> {
    this.invoked.push([channel, args, callId]);
    return this.reply(channel, args, callId);
  }
}

let code = '';
let api: PreloadApi;
let exposedAs = '';
const ipc = new FakeIpcRenderer();
const page = new EventTarget();
const requested: string[] = [];

beforeAll(() => {
  // The exact command of package.json, writing to a temporary file instead of dist/.
  const script = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['build:preload'] ?? '';
  const [tool, ...args] = script.split(' ');
  expect(tool).toBe('esbuild');
  const outfile = path.join(out, 'index.cjs');
  execFileSync(path.join(root, 'node_modules/.bin/esbuild'), [...args.filter((a) => !a.startsWith('--outfile=')), `--outfile=${outfile}`, '--log-level=warning'], { cwd: root });
  code = fs.readFileSync(outfile, 'utf8');
  const electron = {
    contextBridge: {
      exposeInMainWorld: (name: string, value: PreloadApi) => {
        exposedAs = name;
        api = value;
      },
    },
    ipcRenderer: ipc,
    webUtils: { getPathForFile: (file: { fakePath?: string }) => file.fakePath ?? '' },
  };
  const module = { exports: {} };
  const fakeRequire = (id: string): unknown => {
    requested.push(id);
    if (id === 'electron') return electron;
    throw new Error(`a sandboxed preload cannot require ${id}`);
  };
  vm.runInNewContext(code, {
    require: fakeRequire, module, exports: module.exports,
    addEventListener: page.addEventListener.bind(page), Date, Error, Object, Promise,
  }, { filename: 'index.cjs' });
});

afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('the preload bundle', () => {
  it('is one CommonJS file that requires only electron', () => {
    expect(code).not.toMatch(/^\s*import\s/m);
    expect(code).not.toMatch(/^\s*export\s/m);
    expect(code).toMatch(/require\("electron"\)/);
    expect([...new Set(requested)]).toEqual(['electron']);
    expect(exposedAs).toBe('frameworm');
    expect(Object.keys(api).sort()).toEqual(['invoke', 'on', 'onNavigate', 'pathForFile']);
  });

  it('gives a dropped file\'s path through webUtils.getPathForFile ("" for a file made in JS)', () => {
    expect(api.pathForFile({ name: 'gan.pt', fakePath: '/home/me/gan.pt' })).toBe('/home/me/gan.pt');
    expect(api.pathForFile({ name: 'made-in-js.pt' })).toBe('');
  });

  it('invokes with a call id, keeps only its own progress, and rethrows errors as Errors with their code', async () => {
    ipc.reply = (_channel, _args, callId) => {
      ipc.emit('progress', {}, { step: 'other', message: 'not mine', call_id: 'someone-else' });
      ipc.emit('progress', {}, { step: 'export', message: 'exporting', call_id: callId });
      ipc.emit('push', {}, { channel: 'event', payload: { event: 'deploy' }, call_id: callId });
      return { result: { version: 'v1' } };
    };
    const progress: ProgressEvent[] = [];
    const pushes: unknown[] = [];
    expect(await api.invoke('deploy.start', { model: 'm.pt', name: 'm' }, (p) => progress.push(p), (c, p) => pushes.push([c, p]))).toEqual({ version: 'v1' });
    expect(progress.map((p) => p.step)).toEqual(['export']);
    expect(pushes).toEqual([['event', { event: 'deploy' }]]);
    expect(ipc.invoked.at(-1)?.slice(0, 2)).toEqual(['deploy.start', { model: 'm.pt', name: 'm' }]);
    expect(ipc.listenerCount('progress')).toBe(0);

    ipc.reply = () => ({ error: { code: 'E_NOT_FOUND', message: 'no model nope', detail: { name: 'nope' } } });
    await expect(api.invoke('deploy.status', { name: 'nope' })).rejects.toMatchObject({ message: 'no model nope', code: 'E_NOT_FOUND', detail: { name: 'nope' } });
  });

  it('delivers the plane\'s own pushes by channel, and navigation requests from the shell', () => {
    const got: unknown[] = [];
    const off = api.on('deployment.changed', (p) => got.push(p));
    ipc.emit('push', {}, { channel: 'deployment.changed', payload: { name: 'a' } });
    ipc.emit('push', {}, { channel: 'event', payload: { name: 'b' } });
    ipc.emit('push', {}, { channel: 'deployment.changed', payload: { name: 'c' }, call_id: 'a-call' });
    off();
    ipc.emit('push', {}, { channel: 'deployment.changed', payload: { name: 'd' } });
    expect(got).toEqual([{ name: 'a' }]);

    const targets: unknown[] = [];
    const stop = api.onNavigate((t) => targets.push(t));
    ipc.emit('navigate', {}, { model: 'mlp' });
    ipc.emit('navigate', {}, { nope: true });
    stop();
    ipc.emit('navigate', {}, { model: 'late' });
    expect(targets).toEqual([{ model: 'mlp' }]);
  });

  it('cancels dragover and drop on the page, so a stray file never navigates the window', () => {
    for (const type of ['dragover', 'drop']) {
      const e = new Event(type, { cancelable: true, bubbles: true });
      page.dispatchEvent(e);
      expect(e.defaultPrevented).toBe(true);
    }
  });
});
