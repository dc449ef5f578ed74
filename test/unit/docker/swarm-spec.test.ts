/**
 * The swarm target's service spec, read without a daemon: timings sized from what was measured
 * (load time → health start period and update monitor; p99 → stop grace period), the update
 * policy for per-task host ports (stop-first, one at a time, roll back on failure), hardening,
 * and the replica limits `deploy scale` enforces.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SWARM_REPLICAS } from '../../../main/config/deploy-config.js';
import { checkReplicas } from '../../../main/deploy/targets/swarm.js';
import { CONTAINER_PIDS_LIMIT } from '../../../main/docker/hardening.js';
import { serviceSpec, swarmTiming } from '../../../main/docker/swarm-spec.js';

const S = 1e9;

describe('swarmTiming', () => {
  it('before any measurement: the configured ready time-out, a 10 s monitor, the request time-out as grace', () => {
    expect(swarmTiming(null, null, 180, 30_000)).toEqual({ startPeriodS: 180, monitorS: 10, stopGraceS: 30 });
  });

  it('sized from the measured load time and p99, within their bounds', () => {
    expect(swarmTiming(8_000, 400, 180, 30_000)).toEqual({ startPeriodS: 24, monitorS: 16, stopGraceS: 5 });
    expect(swarmTiming(1_000, 4_000, 180, 30_000)).toEqual({ startPeriodS: 10, monitorS: 5, stopGraceS: 9 });
    expect(swarmTiming(600_000, 60_000, 180, 30_000)).toEqual({ startPeriodS: 180, monitorS: 120, stopGraceS: 30 });
  });
});

describe('serviceSpec', () => {
  const spec = serviceSpec({
    serviceName: 'fw-abc-m', workspaceId: 'abc', model: 'm', version: 'v2', imageId: 'sha256:0123', replicas: 2, portBase: 30_000,
    bindHost: '127.0.0.1', memoryBytes: 1 << 30, nodeId: 'node1', timing: { startPeriodS: 24, monitorS: 16, stopGraceS: 7 },
  }) as Record<string, Record<string, unknown>>;
  const task = spec['TaskTemplate'] as Record<string, Record<string, unknown>>;
  const container = task['ContainerSpec'] as Record<string, unknown>;

  it('stop-first, one task at a time, rollback on failure, monitor from the timing', () => {
    expect(spec['UpdateConfig']).toEqual({ Parallelism: 1, Delay: 0, FailureAction: 'rollback', Monitor: 16 * S, MaxFailureRatio: 0, Order: 'stop-first' });
    expect(spec['RollbackConfig']).toMatchObject({ Parallelism: 1, Order: 'stop-first', FailureAction: 'pause' });
    expect(spec['Mode']).toEqual({ Replicated: { Replicas: 2 } });
  });

  it('per-task host ports from the slot, health-gated on /ready of that port', () => {
    expect(task['Networks']).toEqual([{ Target: 'host' }]);
    expect(container['Env']).toEqual(['FRAMEWORM_PORT_BASE=30000', 'FRAMEWORM_SLOT={{.Task.Slot}}']);
    expect((container['Command'] as string[]).join(' ')).toContain('--port $((FRAMEWORM_PORT_BASE + FRAMEWORM_SLOT))');
    const health = container['Healthcheck'] as { Test: string[]; StartPeriod: number };
    expect(health.StartPeriod).toBe(24 * S);
    expect(health.Test.join(' ')).toContain('/ready');
    expect(container['StopGracePeriod']).toBe(7 * S);
  });

  it('hardened where services allow it; pinned to this node; the image by id', () => {
    expect(container).toMatchObject({ Image: 'sha256:0123', User: '10001:10001', ReadOnly: true, CapabilityDrop: ['ALL'] });
    expect(container['Labels']).toEqual({ 'frameworm.model': 'm', 'frameworm.version': 'v2' });
    expect(task['Resources']).toEqual({ Limits: { MemoryBytes: 1 << 30, Pids: CONTAINER_PIDS_LIMIT } });
    expect(task['RestartPolicy']).toMatchObject({ Condition: 'any' });
    expect(task['Placement']).toEqual({ Constraints: ['node.id==node1'] });
  });
});

describe('checkReplicas', () => {
  it('1 … the limit pass; 0 names deploy stop; more than the limit names it', () => {
    expect(() => checkReplicas(1, '--replicas')).not.toThrow();
    expect(() => checkReplicas(MAX_SWARM_REPLICAS, '--replicas')).not.toThrow();
    expect(() => checkReplicas(0, '--replicas')).toThrow(/frameworm deploy stop/);
    expect(() => checkReplicas(MAX_SWARM_REPLICAS + 1, '--replicas')).toThrow(new RegExp(`from 1 to ${MAX_SWARM_REPLICAS}`));
    expect(() => checkReplicas(1.5, '--replicas')).toThrow(/integer/);
  });
});
