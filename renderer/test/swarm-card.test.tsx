import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { MAX_SWARM_REPLICAS, type SwarmStateView, type SwarmTaskView } from '../../preload/contract';
import { ImportPanel } from '../src/components/import-panel';
import { ModelView } from '../src/components/model-view';
import { FakeControlPlane, version } from './fake-control-plane';
import { renderWith } from './render-app';

async function settle(): Promise<void> {
  await act(async () => {
    for (let i = 0; i < 10; i += 1) await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
  });
}

async function browse(): Promise<void> {
  await act(async () => {
    fireEvent.change(screen.getByLabelText('Browse for a checkpoint'), { target: { files: [new File([new Uint8Array([1])], 'gan.pt')] } });
  });
}

const task = (slot: number, extra: Partial<SwarmTaskView> = {}): SwarmTaskView => ({
  id: `task${slot}`.padEnd(25, 'x'), slot, state: 'running', desired_state: 'running', health: 'healthy', version: 'v2', port: 30_000 + slot, container_id: `c${slot}`, error: null, ...extra,
});

const swarm = (extra: Partial<SwarmStateView> = {}): SwarmStateView => ({
  service: 'fw-0123456789ab-gan', service_id: 'svc1', image_id: `sha256:${'e'.repeat(64)}`, version: 'v2', replicas: 2, running: 2,
  update: { state: 'completed', message: 'update completed', started_at: '2026-01-01T10:00:00.000Z', completed_at: '2026-01-01T10:01:00.000Z' },
  update_order: 'stop-first', tasks: [task(1), task(2)], ...extra,
});

describe('import panel: the swarm target', () => {
  it('offers a replicas field for swarm only, refuses 0 and more than the limit, and sends the replicas', async () => {
    const cp = new FakeControlPlane();
    cp.deploySteps = [{ step: 'build', message: 'building', value: 0.2, task_id: 't-1' }];
    renderWith(cp, <ImportPanel />);
    await browse();
    expect(screen.queryByLabelText(/Replicas/)).toBeNull();
    fireEvent.change(screen.getByLabelText('Target'), { target: { value: 'swarm' } });
    const replicas = screen.getByLabelText(/Replicas/) as HTMLInputElement;
    expect([replicas.min, replicas.max]).toEqual(['1', String(MAX_SWARM_REPLICAS)]);
    const deploy = (): HTMLButtonElement => screen.getByRole('button', { name: 'Deploy' }) as HTMLButtonElement;
    for (const bad of ['0', String(MAX_SWARM_REPLICAS + 1), '1.5']) {
      fireEvent.change(replicas, { target: { value: bad } });
      expect(deploy().disabled).toBe(true);
      expect(screen.getByText(`replicas: a whole number from 1 to ${MAX_SWARM_REPLICAS} (to stop serving, stop the deployment)`)).toBeTruthy();
    }
    fireEvent.change(replicas, { target: { value: '3' } });
    expect(deploy().disabled).toBe(false);
    await act(async () => {
      fireEvent.click(deploy());
    });
    expect(cp.callsOf('deploy.start')).toEqual([{ model: '/tmp/uploads/gan.pt', name: 'gan', target: 'swarm', stage: 'production', quantize: false, actor: 'gui', replicas: 3 }]);
  });

  it('an empty field leaves the replicas to the config', async () => {
    const cp = new FakeControlPlane();
    cp.deploySteps = [{ step: 'build', message: 'building', value: 0.2, task_id: 't-1' }];
    renderWith(cp, <ImportPanel />);
    await browse();
    fireEvent.change(screen.getByLabelText('Target'), { target: { value: 'swarm' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    });
    expect(cp.callsOf('deploy.start')).toEqual([{ model: '/tmp/uploads/gan.pt', name: 'gan', target: 'swarm', stage: 'production', quantize: false, actor: 'gui' }]);
  });

  it('a value typed for swarm is not sent when the target changes to docker', async () => {
    const cp = new FakeControlPlane();
    cp.deploySteps = [{ step: 'build', message: 'building', value: 0.2, task_id: 't-1' }];
    renderWith(cp, <ImportPanel />);
    await browse();
    fireEvent.change(screen.getByLabelText('Target'), { target: { value: 'swarm' } });
    fireEvent.change(screen.getByLabelText(/Replicas/), { target: { value: '4' } });
    fireEvent.change(screen.getByLabelText('Target'), { target: { value: 'docker' } });
    expect(screen.queryByLabelText(/Replicas/)).toBeNull();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    });
    expect(cp.callsOf('deploy.start')).toEqual([{ model: '/tmp/uploads/gan.pt', name: 'gan', target: 'docker', stage: 'production', quantize: false, actor: 'gui' }]);
  });
});

describe('model view: the swarm service', () => {
  it('shows replicas, the update state and each task with its state, health, version and port', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('gan', [version('v1', 'archived', { target: 'swarm' }), version('v2', 'production', { target: 'swarm' })]);
    cp.statusExtra.set('gan', { target: 'swarm', swarm: swarm() });
    renderWith(cp, <ModelView name="gan" />);
    await settle();
    const card = screen.getByRole('region', { name: 'Swarm service' });
    expect(card.textContent).toContain('fw-0123456789ab-gan');
    expect(within(card).getByText('2/2 replica(s) running')).toBeTruthy();
    expect(within(card).getByText('update: completed')).toBeTruthy();
    expect(card.textContent).toContain('update order stop-first');
    const table = within(card).getByRole('table', { name: 'Tasks' });
    expect(within(table).getAllByRole('row').slice(1).map((r) => r.textContent)).toEqual(['1runninghealthyv2127.0.0.1:30001', '2runninghealthyv2127.0.0.1:30002']);
    // No docker container card on the swarm target.
    expect(screen.queryByRole('region', { name: 'Container' })).toBeNull();
  });

  it('shows a task being replaced and a rolled-back update after Refresh tasks', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('gan', [version('v2', 'production', { target: 'swarm' })]);
    cp.statusExtra.set('gan', { target: 'swarm', swarm: swarm() });
    renderWith(cp, <ModelView name="gan" />);
    await settle();
    const before = cp.callsOf('deploy.status').length;
    cp.statusExtra.set('gan', {
      target: 'swarm',
      swarm: swarm({
        running: 1,
        update: { state: 'rollback_completed', message: 'rollback completed', started_at: '2026-01-01T11:00:00.000Z', completed_at: '2026-01-01T11:02:00.000Z' },
        tasks: [task(1, { state: 'starting', health: 'starting', container_id: null }), task(2), task(3, { state: 'failed', desired_state: 'shutdown', health: 'unhealthy', version: 'v3', error: 'task: non-zero exit (1)' })],
      }),
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Refresh tasks' }));
    });
    await settle();
    expect(cp.callsOf('deploy.status').length).toBe(before + 1);
    const card = screen.getByRole('region', { name: 'Swarm service' });
    expect(within(card).getByText('1/2 replica(s) running').className).toContain('verdict-breach');
    expect(within(card).getByText('update: rollback_completed').className).toContain('verdict-breach');
    const rows = within(within(card).getByRole('table', { name: 'Tasks' })).getAllByRole('row').slice(1).map((r) => r.textContent);
    expect(rows).toEqual(['1starting → runningstartingv2127.0.0.1:30001', '2runninghealthyv2127.0.0.1:30002', '3failed → shutdownunhealthyv3127.0.0.1:30003task: non-zero exit (1)']);
  });

  it('says so when the service is gone', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('gan', [version('v2', 'production', { target: 'swarm' })]);
    cp.statusExtra.set('gan', { target: 'swarm', swarm: null });
    renderWith(cp, <ModelView name="gan" />);
    await settle();
    expect(within(screen.getByRole('region', { name: 'Swarm service' })).getByText('No swarm service is running for gan.')).toBeTruthy();
  });
});
