import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { MetricsSample } from '../../preload/contract';
import { App } from '../src/app';
import { MetricsCharts } from '../src/components/metrics-charts';
import { WatcherCard } from '../src/components/watcher-card';
import { startAppStores } from '../src/stores/app-stores';
import { FakeControlPlane, version, watcher } from './fake-control-plane';
import { painted, recordingCanvases } from './metrics-recording-canvas';
import { renderWith } from './render-app';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function sample(seconds: number, p95: number | null): MetricsSample {
  return { name: 'mnist', ts: T0 + seconds * 1000, p50_ms: p95 && p95 / 2, p95_ms: p95, p99_ms: p95 && p95 * 2, error_rate: p95 === null ? null : 0.02, requests_per_s: 5, version: 'v2' };
}

async function settle(): Promise<void> {
  await act(async () => {
    for (let i = 0; i < 10; i += 1) await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
  });
}

function check(id: number, verdict: string): Record<string, unknown> & { id: number; ts: string; model: string; event: string } {
  return { id, ts: new Date(T0 + id * 5000).toISOString(), model: 'mnist', event: 'check', verdict, p95_ms: verdict === 'inconclusive' ? null : 120, error_rate: 0, requests: verdict === 'inconclusive' ? 3 : 40 };
}

describe('model view', () => {
  it('shows the sidebar lights, the overview and live tiles filled by pushes', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'archived'), version('v2', 'production')], watcher());
    cp.addModel('celeba', [version('v1', 'staging')], null, null);
    const { stores } = renderWith(cp, <App />);
    startAppStores(stores);
    await settle();

    const nav = screen.getByRole('navigation', { name: 'Models' });
    expect(within(nav).getByRole('button', { name: /mnist/ }).querySelector('[role=img]')!.getAttribute('aria-label')).toBe('health: healthy');
    expect(within(nav).getByRole('button', { name: /celeba/ }).querySelector('[role=img]')!.getAttribute('aria-label')).toBe('health: no production version');

    fireEvent.click(within(nav).getByRole('button', { name: /mnist/ }));
    await settle();
    const overview = screen.getByRole('region', { name: 'Overview' });
    expect(within(overview).getByText('v2')).toBeTruthy();
    expect(within(overview).getByRole('button', { name: 'Copy endpoint http://127.0.0.1:8100' })).toBeTruthy();
    expect(within(overview).getByLabelText('p95 latency —')).toBeTruthy();

    act(() => cp.emit('metrics.sample', sample(1, 312)));
    expect(within(overview).getByLabelText('p95 latency 312 ms')).toBeTruthy();
    expect(within(overview).getByLabelText('error rate 2.0 %')).toBeTruthy();
    expect(screen.getByRole('img', { name: /^Latency of mnist over 5 m: p50 156 ms, p95 312 ms, p99 624 ms, threshold 250 ms$/ })).toBeTruthy();

    // A breach streak pushed by the watcher turns the light degraded.
    act(() => cp.emit('watcher.state', { name: 'mnist', watcher: watcher({ streak: 1 }) }));
    expect(within(nav).getByRole('button', { name: /mnist/ }).querySelector('[role=img]')!.getAttribute('aria-label')).toBe('health: degraded');
  });

  it('opens the lineage drawer and closes it with Escape', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v2', 'production', { lineage: { checkpoint_sha256: 'ab'.repeat(32), git_commit: 'deadbeef', training_metrics: { fid: 31.2 }, parity: { max_abs_err: 1e-6 } } })]);
    const { stores } = renderWith(cp, <App />);
    startAppStores(stores);
    await settle();
    fireEvent.click(screen.getByRole('button', { name: 'Lineage of v2' }));
    const drawer = screen.getByRole('dialog', { name: 'Lineage of mnist v2' });
    expect(within(drawer).getByText('deadbeef')).toBeTruthy();
    expect(within(drawer).getByText(/"fid": 31.2/)).toBeTruthy();
    expect(within(drawer).getByText('Parity')).toBeTruthy();
    expect(document.activeElement).toBe(within(drawer).getByRole('button', { name: 'Close lineage' }));
    fireEvent.keyDown(drawer, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('switches between dark and light themes and remembers the choice', async () => {
    const cp = new FakeControlPlane();
    const { stores } = renderWith(cp, <App />);
    const start = stores.ui.getState().theme;
    const other = start === 'dark' ? 'light' : 'dark';
    fireEvent.click(screen.getByRole('button', { name: `Switch to ${other} theme` }));
    expect(document.documentElement.dataset['theme']).toBe(other);
  });
});

describe('metrics charts', () => {
  it('draws each run of data as its own segment, with the threshold line and range buttons', async () => {
    const canvases = recordingCanvases();
    const cp = new FakeControlPlane();
    const { stores, container } = renderWith(cp, <MetricsCharts name="mnist" threshold={250} width={600} now={T0 + 10_000} />);
    act(() => {
      for (const s of [sample(0, 100), sample(1, 110), sample(2, 120), sample(6, 300), sample(7, 310)]) stores.metrics.getState().ingest(s);
    });
    await painted();
    canvases.restore();
    // The lines are painted on a canvas over the plot: p50, p95 and p99 each as two runs of data
    // around the gap → two move-to calls per line, not one line bridging it.
    const latency = canvases.of(container.querySelector('figure[aria-label^="Latency"] canvas'));
    expect(latency.filter((c) => c[0] === 'stroke').length).toBe(3);
    expect(latency.filter((c) => c[0] === 'moveTo').length).toBe(6);
    expect(container.querySelector('.recharts-reference-line')).toBeTruthy();
    expect(screen.getByRole('button', { name: '5 m' }).getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(screen.getByRole('button', { name: '1 h' }));
    expect(stores.metrics.getState().range).toBe('1h');
    expect(screen.getByRole('button', { name: '1 h' }).getAttribute('aria-pressed')).toBe('true');
  });
});

describe('watcher card', () => {
  it('shows the rule, the streak, inconclusive checks as such, and the cooldown', () => {
    const cp = new FakeControlPlane();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    renderWith(cp, <WatcherCard watcher={watcher({ streak: 1, last_checks: [check(1, 'pass'), check(2, 'breach'), check(3, 'inconclusive')], cooldown_until: future })} />);
    expect(screen.getByText(/breach when p95 > 250 ms/)).toBeTruthy();
    expect(screen.getByText('Breach streak 1 of 3')).toBeTruthy();
    const verdicts = within(screen.getByRole('list', { name: 'Last verdicts, newest first' })).getAllByRole('listitem');
    expect(verdicts.map((li) => li.querySelector('.badge')!.textContent)).toEqual(['inconclusive (too few requests)', 'breach', 'pass']);
    expect(screen.getByText(/cooldown until/)).toBeTruthy();
  });

  it('says when nothing is watched', () => {
    renderWith(new FakeControlPlane(), <WatcherCard watcher={null} />);
    expect(screen.getByText('Not watching: no production version is served.')).toBeTruthy();
  });
});
