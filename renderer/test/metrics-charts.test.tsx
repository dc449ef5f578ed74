import { act, render } from '@testing-library/react';
import { Profiler, type ReactNode } from 'react';
import { describe, expect, it } from 'vitest';
import type { EventView, MetricsSample } from '../../preload/contract';
import { MetricsCharts } from '../src/components/metrics-charts';
import { createAppStores, StoresProvider, type AppStores } from '../src/stores/app-stores';
import { FakeControlPlane } from './fake-control-plane';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function sample(name: string, seconds: number, p95: number | null): MetricsSample {
  return { name, ts: T0 + seconds * 1000, p50_ms: p95, p95_ms: p95, p99_ms: p95, error_rate: p95 === null ? null : 0, requests_per_s: 4, version: 'v1' };
}

function event(id: number, model: string, name: string, fields: Record<string, unknown> = {}): EventView {
  return { id, ts: new Date(T0 + id * 1000).toISOString(), model, event: name, ...fields };
}

/** The charts of `mnist` inside a Profiler counting the commits of their subtree; `rerender` changes the threshold. */
function renderCounted(stores: AppStores): { commits: () => number; rerender: (threshold: number) => void; container: HTMLElement } {
  let commits = 0;
  const tree = (threshold: number): ReactNode => (
    <StoresProvider stores={stores}>
      <Profiler id="charts" onRender={() => (commits += 1)}>
        <MetricsCharts name="mnist" threshold={threshold} width={600} now={T0 + 20_000} />
      </Profiler>
    </StoresProvider>
  );
  const r = render(tree(250));
  return { commits: () => commits, rerender: (t) => r.rerender(tree(t)), container: r.container };
}

describe('metrics charts redraws', () => {
  it('redraw for their own samples, markers and threshold only: not for other deployments or watcher checks', () => {
    const cp = new FakeControlPlane();
    const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
    const view = renderCounted(stores);
    const start = view.commits();

    // Own sample: a redraw (recharts commits a few times per redraw, as its store settles).
    act(() => stores.metrics.getState().ingest(sample('mnist', 1, 120)));
    const afterSample = view.commits();
    expect(afterSample).toBeGreaterThan(start);
    expect(view.container.querySelector('.recharts-line path[name="p95"]')).not.toBeNull();

    // Another deployment's sample, this model's 1 Hz watcher check: nothing.
    act(() => stores.metrics.getState().ingest(sample('celeba', 2, 80)));
    act(() => stores.events.getState().ingest(event(2, 'mnist', 'check', { verdict: 'pass' })));
    expect(view.commits()).toBe(afterSample);

    // A rollback is a marker: the charts redraw and show it.
    act(() => stores.events.getState().ingest(event(3, 'mnist', 'rollback', { to_version: 'v1', success: true })));
    const afterMarker = view.commits();
    expect(afterMarker).toBeGreaterThan(afterSample);
    expect(view.container.textContent).toContain('rollback → v1');
    // A new threshold redraws too.
    act(() => view.rerender(300));
    expect(view.commits()).toBeGreaterThan(afterMarker);
    expect(view.container.textContent).toContain('threshold 300 ms');
  });

  it('labels the time axis with round times of the range', () => {
    const cp = new FakeControlPlane();
    const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
    const { container } = renderCounted(stores);
    act(() => stores.metrics.getState().ingest(sample('mnist', 1, 120)));
    // The first chart's tick labels: its x axis' five, then its y axis'.
    const ticks = [...container.querySelectorAll('text.recharts-cartesian-axis-tick-value')].map((t) => t.textContent);
    // 5 m range ending just after T0 + 20 s: whole minutes, T0 - 4 min … T0, in local time.
    const fmt = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    const expected = [4, 3, 2, 1, 0].map((m) => fmt.format(T0 - m * 60_000));
    expect(ticks.slice(0, 5)).toEqual(expected);
  });
});
