import { describe, expect, it } from 'vitest';
import { createDeploymentsStore } from '../src/stores/deployments-store';
import { healthOf } from '../src/domain/health';
import { FakeControlPlane, version, watcher } from './fake-control-plane';

/** Resolves once every promise queued so far (fake invokes are microtask-deep) has settled. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}

describe('deployments store', () => {
  it('loads the model list and each status when started, selecting the first model', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'production')]);
    cp.addModel('celeba', [version('v1', 'staging')], null, null);
    const store = createDeploymentsStore(cp);
    expect(store.getState().loaded).toBe(false);
    store.getState().start();
    await settle();
    const s = store.getState();
    expect(s.list.map((d) => d.name)).toEqual(['celeba', 'mnist']);
    expect(s.selected).toBe('celeba');
    expect(Object.keys(s.statuses).sort()).toEqual(['celeba', 'mnist']);
    expect(healthOf(s.list[1]!, s.statuses['mnist'])).toBe('healthy');
    expect(healthOf(s.list[0]!, s.statuses['celeba'])).toBe('idle');
  });

  it('refetches a model when a deployment.changed push names it', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'production'), version('v2', 'staging')]);
    const store = createDeploymentsStore(cp);
    store.getState().start();
    await settle();
    expect(store.getState().statuses['mnist']!.production).toBe('v1');

    // Another client (the CLI) promotes v2; the control plane pushes deployment.changed.
    await cp.invoke('deploy.promote', { name: 'mnist', version: 'v2', stage: 'production' });
    cp.emit('deployment.changed', { name: 'mnist' });
    await settle();
    expect(store.getState().statuses['mnist']!.production).toBe('v2');
    expect(store.getState().list[0]!.production).toBe('v2');
  });

  it('adds a model it has not seen when a push announces it', async () => {
    const cp = new FakeControlPlane();
    const store = createDeploymentsStore(cp);
    store.getState().start();
    await settle();
    expect(store.getState().list).toEqual([]);
    cp.addModel('fresh', [version('v1', 'production')]);
    cp.emit('deployment.changed', { name: 'fresh' });
    await settle();
    expect(store.getState().list.map((d) => d.name)).toEqual(['fresh']);
    expect(store.getState().statuses['fresh']!.serving).toBe(true);
  });

  it('applies watcher.state pushes and turns the light degraded on a breach streak', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'production')], watcher());
    const store = createDeploymentsStore(cp);
    store.getState().start();
    await settle();
    cp.emit('watcher.state', { name: 'mnist', watcher: watcher({ streak: 2 }) });
    const s = store.getState();
    expect(s.statuses['mnist']!.watcher!.streak).toBe(2);
    expect(healthOf(s.list[0]!, s.statuses['mnist'])).toBe('degraded');
  });

  it('stops listening after the returned unsubscribe', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'production')], watcher());
    const store = createDeploymentsStore(cp);
    const stop = store.getState().start();
    await settle();
    stop();
    cp.emit('watcher.state', { name: 'mnist', watcher: watcher({ streak: 2 }) });
    expect(store.getState().statuses['mnist']!.watcher!.streak).toBe(0);
  });

  it('shows a load failure as an error, and promotes with the reason and the gui actor', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'production'), version('v2', 'staging')]);
    const store = createDeploymentsStore(cp);
    await store.getState().refreshStatus('nope');
    expect(store.getState().error).toMatch(/status of nope: no model nope \(E_NOT_FOUND\)/);
    await store.getState().transition('mnist', 'v2', 'promote-production', '  canary looked fine ');
    expect(cp.callsOf('deploy.promote')).toEqual([{ name: 'mnist', version: 'v2', stage: 'production', reason: 'canary looked fine', actor: 'gui' }]);
    expect(store.getState().statuses['mnist']!.production).toBe('v2');
    expect(store.getState().error).toBeNull();
  });

  it('reloads after the push connection re-opens, since pushes may have been missed', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'production'), version('v2', 'staging')]);
    const store = createDeploymentsStore(cp);
    cp.hub.setConnection('open');
    store.getState().start();
    await settle();
    cp.hub.setConnection('closed');
    // Changed while the socket was down: no push arrives for it.
    await cp.invoke('deploy.promote', { name: 'mnist', version: 'v2', stage: 'production' });
    await settle();
    expect(store.getState().statuses['mnist']!.production).toBe('v1');
    cp.hub.setConnection('open');
    await settle();
    expect(store.getState().statuses['mnist']!.production).toBe('v2');
  });
});
