import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { ContainerStateView, DriftCheckView, FeatureGroupView, ShiftStatusView } from '../../preload/contract';
import { App } from '../src/app';
import type { RendererClient } from '../src/bridge/client-types';
import { ContainerCard } from '../src/components/container-card';
import { DriftPanel } from '../src/components/drift-panel';
import { groupHistograms, histogramPair } from '../src/domain/drift-histograms';
import { createDriftStore, DRIFT_REFRESH_MS } from '../src/stores/drift-store';
import { createEngineStore, ENGINE_POLL_MS } from '../src/stores/engine-store';
import { applyBuildLine } from '../src/stores/import-store';
import { FakeControlPlane, version } from './fake-control-plane';
import { renderWith } from './render-app';

async function flush(): Promise<void> {
  await act(async () => {
    await new Promise((r) => setTimeout(r, 0));
  });
}

const last: DriftCheckView = {
  drifted: true, severity: 'HIGH', window: { reference: 200, current: 200 }, version: 'v2', ts: '2026-01-01T12:00:00.000Z', consecutive: 2,
  groups: [
    { name: 'pixels', test: 'ks', p_value: 1e-6, p_adjusted: 4e-6, effect: 0.41, drifted: true, severity: 'HIGH' },
    { name: 'latent_norm', test: 'ks', p_value: 0.4, p_adjusted: 1, effect: 0.02, drifted: false, severity: 'NONE' },
  ],
};

const status = (extra: Partial<ShiftStatusView> = {}): ShiftStatusView => ({
  name: 'gan', enabled: true, sampled: 412, dropped: 3, last,
  tracker: { reference_source: 'first requests', reference_rows: 200, reference_ready: true, window_rows: 12, window_size: 200, windows_checked: 2 },
  ...extra,
});

const ref: FeatureGroupView = { name: 'pixels', kind: 'numeric', rows: [[0, 1], [0.1, 1.2], [0.2, 0.9]], featureNames: ['mean', 'std'] };
const cur: FeatureGroupView = { name: 'pixels', kind: 'numeric', rows: [[0.8, 1], [0.9, 1.1]], featureNames: ['mean', 'std'] };
const classes: FeatureGroupView = { name: 'classes', kind: 'categorical', rows: ['0', '1', '1', '2'] };

describe('drift histograms', () => {
  it('bins reference and current on shared bins, each a density', () => {
    const h = histogramPair('x', [0, 0, 1], [1, 1], 2);
    expect(h).toEqual({ feature: 'x', lo: 0, hi: 1, reference: [2 / 3, 1 / 3], current: [0, 1] });
    expect(histogramPair('c', [5, 5], [], 2)).toMatchObject({ lo: 4.5, hi: 5.5, reference: [0, 1], current: [0, 0] });
    const groups = groupHistograms(ref, cur);
    expect(Array.isArray(groups) && groups.map((g) => g.feature)).toEqual(['mean', 'std']);
    expect(groupHistograms(classes, { ...classes, rows: ['2', '2'] })).toEqual({
      feature: 'classes',
      rows: [{ category: '0', reference: 0.25, current: 0 }, { category: '1', reference: 0.5, current: 0 }, { category: '2', reference: 0.25, current: 1 }],
    });
  });
});

describe('drift panel', () => {
  it('shows the severity per group and the reference vs current histograms', async () => {
    const cp = new FakeControlPlane();
    cp.shiftStatus = status();
    cp.shiftSamples = { name: 'gan', type: 'dcgan', shift_profile: null, reference: [ref, classes], current: [cur], recent: null };
    renderWith(cp, <DriftPanel name="gan" checkedAt={last.ts} />);
    await flush();
    const panel = screen.getByRole('region', { name: 'Drift' });
    expect(panel.textContent).toContain('drifted · HIGH');
    expect(panel.textContent).toContain('Reference: first requests, 200 rows; window 12/200 rows; 2 window(s) checked; 412 sampled, 3 dropped.');
    const table = within(panel).getByRole('table', { name: 'Severity per feature group' });
    expect(within(table).getAllByRole('row').slice(1).map((r) => r.textContent)).toEqual(['pixelsks1.0e-6 (4.0e-6)0.410HIGH', 'latent_normks0.400 (1.000)0.020NONE']);
    fireEvent.click(within(panel).getByRole('button', { name: 'Show reference vs current histograms' }));
    expect(within(panel).getByRole('button', { name: 'Hide reference vs current histograms' }).getAttribute('aria-expanded')).toBe('true');
    expect(within(panel).getByRole('img', { name: 'mean: reference (bars) and current (line), from 0.000 to 0.900' })).toBeTruthy();
    expect(within(panel).getByRole('table', { name: 'classes: share per category' })).toBeTruthy();
  });

  it('says when monitoring is off, and uses the filling reference until it is complete', async () => {
    const cp = new FakeControlPlane();
    cp.shiftStatus = status({ enabled: false });
    cp.shiftSamples = { name: 'gan', type: 'dcgan', shift_profile: null, reference: null, current: null, recent: null };
    const { rerender } = renderWith(cp, <DriftPanel name="gan" checkedAt={null} />);
    await flush();
    expect(screen.getByText('Drift monitoring is off (deploy.drift_enabled).')).toBeTruthy();
    cp.shiftStatus = status({ last: null, tracker: { reference_source: 'first requests', reference_rows: 3, reference_ready: false, window_rows: 0, window_size: 200, windows_checked: 0 } });
    cp.shiftSamples = { name: 'gan', type: 'dcgan', shift_profile: null, reference: null, current: null, recent: [ref] };
    rerender(<DriftPanel name="gan" checkedAt="later" />);
    await flush();
    expect(screen.getByText('No window checked yet.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Show reference histograms (still filling)' }));
    expect(screen.getByRole('img', { name: 'std: reference (bars), no current window yet, from 0.900 to 1.200' })).toBeTruthy();
  });
});

describe('drift store', () => {
  it('reloads a shown model on its drift events at once, on other events at most every 5 s', async () => {
    const cp = new FakeControlPlane();
    cp.shiftStatus = status();
    cp.shiftSamples = { name: 'gan', type: 'dcgan', shift_profile: null, reference: null, current: null, recent: null };
    let t = 0;
    const store = createDriftStore(cp, { now: () => t });
    store.getState().start();
    const ev = (event: string, model = 'gan') => ({ id: null, ts: '2026-01-01T00:00:00Z', model, event });
    cp.emit('event', ev('check'));
    expect(cp.callsOf('shift.status')).toHaveLength(0); // not shown: nothing loaded
    await store.getState().load('gan');
    t = DRIFT_REFRESH_MS - 1;
    cp.emit('event', ev('check'));
    cp.emit('event', ev('drift_check'));
    t = DRIFT_REFRESH_MS * 2;
    cp.emit('event', ev('check'));
    cp.emit('event', ev('check'));
    cp.emit('event', ev('check', 'other'));
    await flush();
    expect(cp.callsOf('shift.status')).toHaveLength(3);
  });
});

describe('docker target', () => {
  const container: ContainerStateView = {
    id: 'abc123', name: 'fw-gan-v2', image: 'frameworm/gan:v2', image_id: 'sha256:0123456789abcdef0123', host_port: 49_200, state: 'running', health: 'healthy',
    running: true, exit_code: null, oom_killed: false, started_at: '2026-01-01T12:00:00.000Z', finished_at: null,
  };

  it('the container card shows state, health and the log tail, refreshed on demand', async () => {
    const cp = new FakeControlPlane();
    cp.containerLog = ['INFO: started', 'INFO: model loaded'];
    renderWith(cp, <ContainerCard name="gan" container={container} />);
    await flush();
    const card = screen.getByRole('region', { name: 'Container' });
    expect(card.textContent).toContain('fw-gan-v2 running');
    expect(card.textContent).toContain('health: healthy');
    expect(card.textContent).toContain('port 127.0.0.1:49200');
    expect(screen.getByRole('log', { name: 'Container log of gan' }).textContent).toBe('INFO: started\nINFO: model loaded');
    cp.containerLog.push('POST /predict 200');
    fireEvent.click(screen.getByRole('button', { name: 'Refresh log' }));
    await flush();
    expect(screen.getByRole('log', { name: 'Container log of gan' }).textContent).toContain('POST /predict 200');
    expect(cp.callsOf('deploy.logs')).toEqual([{ name: 'gan', tail: 100 }, { name: 'gan', tail: 100 }]);
  });

  it('the build log keeps the docker build lines only, bounded', () => {
    let log: readonly string[] = [];
    log = applyBuildLine(log, { step: 'export', message: 'exporting' });
    log = applyBuildLine(log, { step: 'build', message: 'Step 1/9 : FROM python:3.11-slim' });
    log = applyBuildLine(log, { step: 'base-image', message: 'building the offline base' });
    expect(log).toEqual(['Step 1/9 : FROM python:3.11-slim', 'building the offline base']);
    for (let i = 0; i < 500; i++) log = applyBuildLine(log, { step: 'build', message: `line ${i}` });
    expect(log).toHaveLength(400);
    expect(log[399]).toBe('line 499');
  });

  it('the engine store asks again on its interval and after a reconnect', async () => {
    const cp = new FakeControlPlane();
    let tick: (() => void) | null = null;
    const periods: number[] = [];
    const store = createEngineStore(cp, { every: (fn, ms) => ((tick = fn), periods.push(ms), () => (tick = null)) });
    const stop = store.getState().start();
    await flush();
    expect(store.getState().engine?.reachable).toBe(true);
    cp.engine = { reachable: false, socket: '/var/run/docker.sock', version: null, error: 'Docker daemon not running' };
    (tick as (() => void) | null)?.();
    await flush();
    expect(store.getState().engine?.reachable).toBe(false);
    expect(periods).toEqual([ENGINE_POLL_MS]);
    act(() => cp.hub.setConnection('open'));
    await flush();
    expect(cp.callsOf('docker.status')).toHaveLength(3);
    stop();
    expect(tick).toBeNull();
  });
});

describe('navigation from the shell', () => {
  it('a notification click (onNavigate) shows that model', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('a', [version('v1', 'production')]);
    cp.addModel('b', [version('v1', 'production')]);
    let navigate: ((t: { model: string }) => void) | null = null;
    const client: RendererClient = Object.assign(cp, { onNavigate: (fn: (t: { model: string }) => void) => ((navigate = fn), () => (navigate = null)) });
    const { stores } = renderWith(client as FakeControlPlane, <App />);
    await act(async () => {
      await stores.deployments.getState().refreshList();
    });
    stores.ui.getState().setView('settings');
    act(() => (navigate as ((t: { model: string }) => void) | null)?.({ model: 'b' }));
    await flush();
    expect(stores.deployments.getState().selected).toBe('b');
    expect(stores.ui.getState().view).toBe('model');
    expect(screen.getByRole('heading', { name: 'b', level: 1 })).toBeTruthy();
  });
});
