/**
 * The one dispatch, over a real control plane's handler table: channel and argument checks,
 * errors as data, and the task wrapping of long operations (ids, monotonic progress, cancel as
 * its own state).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProgressEvent, PushChannel, TaskView } from '../../../preload/contract.js';
import { ControlPlane } from '../../../main/agent/control-plane.js';
import { dispatch, type HandlerContext } from '../../../main/agent/dispatch.js';
import { TaskRegistry } from '../../../main/agent/tasks.js';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-dispatch-'));
const plane = ControlPlane.open(ws);
const handlers = plane.handlers(() => {});

afterAll(async () => {
  await plane.dispose();
  fs.rmSync(ws, { recursive: true, force: true });
});

function context(signal: AbortSignal = new AbortController().signal): HandlerContext & { steps: ProgressEvent[]; pushes: PushChannel[] } {
  const steps: ProgressEvent[] = [];
  const pushes: PushChannel[] = [];
  return { steps, pushes, signal, progress: (p) => steps.push(p), push: (c) => pushes.push(c) };
}

describe('dispatch', () => {
  it('answers a known channel with {result}', async () => {
    expect(await dispatch(handlers, 'deploy.list', {}, context())).toEqual({ result: [] });
    // A missing body is the empty object.
    expect(await dispatch(handlers, 'deploy.list', undefined, context())).toEqual({ result: [] });
  });

  it('refuses channels outside the contract, including names inherited from Object', async () => {
    for (const channel of ['deploy.nope', 'constructor', '__proto__', 'toString', '']) {
      expect(await dispatch(handlers, channel, {}, context())).toMatchObject({ error: { code: 'E_USAGE', message: `unknown control-plane channel '${channel}'` } });
    }
  });

  it('refuses an argument that is not a JSON object', async () => {
    for (const args of [[], 'x', 3, true]) {
      expect(await dispatch(handlers, 'deploy.status', args, context())).toMatchObject({ error: { code: 'E_USAGE' } });
    }
  });

  it('turns a handler failure into {error} with its code (never throws)', async () => {
    expect(await dispatch(handlers, 'deploy.status', { name: 'missing' }, context())).toMatchObject({ error: { code: 'E_NOT_FOUND' } });
  });

  it('runs deploy.start as a task: progress carries its id, a failure ends it as failed', async () => {
    const tasks = new TaskRegistry();
    const ctx = context();
    const reply = await dispatch(handlers, 'deploy.start', { model: path.join(ws, 'missing.onnx'), name: 'm' }, ctx, tasks);
    expect(reply).toMatchObject({ error: { code: 'E_INPUT' } });
    const id = ctx.steps[0]?.task_id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(ctx.steps.every((s) => s.task_id === id)).toBe(true);
    expect(tasks.list()).toMatchObject([{ id, channel: 'deploy.start', name: 'm', state: 'failed', error: { code: 'E_INPUT' } }]);
  });

  it('ends a task whose caller went away as cancelled, not failed', async () => {
    const tasks = new TaskRegistry();
    const gone = new AbortController();
    gone.abort();
    const reply = await dispatch(handlers, 'deploy.start', { model: path.join(ws, 'missing.onnx'), name: 'm' }, context(gone.signal), tasks);
    expect(reply).toMatchObject({ error: { detail: { cancelled: true } } });
    expect(tasks.list()[0]).toMatchObject({ state: 'cancelled', cancel_requested: true, error: null });
  });

  it('does not make quick reads into tasks', async () => {
    const tasks = new TaskRegistry();
    await dispatch(handlers, 'deploy.list', {}, context(), tasks);
    expect(tasks.list()).toEqual([]);
  });
});

describe('TaskRegistry', () => {
  it('keeps progress monotonic and publishes every change', () => {
    const published: TaskView[] = [];
    const tasks = new TaskRegistry({ publish: (v) => published.push(v) });
    const t = tasks.begin('deploy.start', { name: 'x' }, new AbortController().signal);
    expect(t.progress({ step: 'a', message: 'a', value: 0.5 }).value).toBe(0.5);
    expect(t.progress({ step: 'b', message: 'b', value: 0.2 }).value).toBe(0.5);
    expect(t.progress({ step: 'c', message: 'c' }).value).toBe(0.5);
    expect(t.finish({ ok: true })).toMatchObject({ state: 'done', value: 1 });
    expect(published.map((v) => v.state)).toEqual(['running', 'running', 'running', 'running', 'done']);
  });

  it('cancel aborts the task signal; a finished task stays as it ended; unknown ids are E_NOT_FOUND', () => {
    const tasks = new TaskRegistry();
    const t = tasks.begin('deploy.promote', {}, new AbortController().signal);
    expect(tasks.cancel(t.id)).toMatchObject({ cancel_requested: true, state: 'running' });
    expect(t.signal.aborted).toBe(true);
    expect(t.finish({ ok: false, error: { code: 'E_AGENT', message: 'x' } }).state).toBe('cancelled');
    expect(tasks.cancel(t.id).state).toBe('cancelled');
    expect(() => tasks.cancel('nope')).toThrow(/no task nope/);
  });

  it('keeps a bounded number of finished tasks', () => {
    const tasks = new TaskRegistry();
    for (let i = 0; i < 80; i++) tasks.begin('deploy.start', {}, new AbortController().signal).finish({ ok: true });
    const running = tasks.begin('deploy.start', {}, new AbortController().signal);
    expect(tasks.list().length).toBe(51);
    expect(tasks.list().at(-1)?.id).toBe(running.id);
  });
});
