import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PUSH_CHANNELS, REQUEST_CHANNELS } from '../../preload/contract.js';
import { ControlPlane } from '../../main/agent/control-plane.js';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-surface-'));
const plane = ControlPlane.open(ws);

afterAll(async () => {
  await plane.dispose();
  fs.rmSync(ws, { recursive: true, force: true });
});

describe('control-plane surface', () => {
  it('serves exactly the channels the contract lists (a new channel is a deliberate change)', () => {
    const handlers = plane.handlers(() => {});
    expect(Object.keys(handlers).sort()).toEqual([...REQUEST_CHANNELS].sort());
    expect([...REQUEST_CHANNELS].sort()).toEqual([
      'agent.info',
      'agent.shutdown',
      'alerts.test',
      'config.get',
      'config.set',
      'deploy.drill',
      'deploy.inspect',
      'deploy.list',
      'deploy.logs',
      'deploy.promote',
      'deploy.rollback',
      'deploy.scale',
      'deploy.schema',
      'deploy.start',
      'deploy.status',
      'deploy.stop',
      'deploy.try',
      'docker.status',
      'events.follow',
      'events.list',
      'metrics.history',
      'push.follow',
      'shift.samples',
      'shift.status',
      'task.cancel',
      'task.list',
    ]);
    expect([...PUSH_CHANNELS].sort()).toEqual(['deployment.changed', 'event', 'metrics.sample', 'progress', 'task', 'watcher.state']);
  });

  it('creates the workspace layout of the design', () => {
    for (const dir of ['experiments/model_registry', 'experiments/deploy_logs', 'experiments/deploy_exports']) {
      expect(fs.statSync(path.join(ws, dir)).isDirectory()).toBe(true);
    }
    expect(fs.existsSync(path.join(ws, 'experiments/model_registry/registry.db'))).toBe(true);
  });
});
