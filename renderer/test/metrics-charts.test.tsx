import { act, render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventView, MetricsSample } from '../../preload/contract';
import { MetricsCharts } from '../src/components/metrics-charts';
import { createAppStores, StoresProvider, type AppStores } from '../src/stores/app-stores';
import { FakeControlPlane } from './fake-control-plane';
import { painted, recordingCanvases, type RecordingCanvases } from './metrics-recording-canvas';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function sample(name: string, seconds: number, p95: number | null): MetricsSample {
  return { name, ts: T0 + seconds * 1000, p50_ms: p95, p95_ms: p95, p99_ms: p95, error_rate: p95 === null ? null : 0, requests_per_s: 4, version: 'v1' };
}

function event(id: number, model: string, name: string, fields: Record<string, unknown> = {}): EventView {
  return { id, ts: new Date(T0 + id * 1000).toISOString(), model, event: name, ...fields };
}

/** The charts of `mnist` at a fixed clock, counting the commits of their recharts frames. */
function renderCounted(stores: AppStores, width = 600): { frames: () => number; rerender: (threshold: number, now: number) => void; container: HTMLElement } {
  let frames = 0;
  const onFrameCommit = (): void => {
    frames += 1;
  };
  const tree = (threshold: number, now: number): ReactNode => (
    <StoresProvider stores={stores}>
      <MetricsCharts name="mnist" threshold={threshold} width={width} now={now} onFrameCommit={onFrameCommit} />
    </StoresProvider>
  );
  const r = render(tree(250, T0 + 20_000));
  return { frames: () => frames, rerender: (t, now) => r.rerender(tree(t, now)), container: r.container };
}

describe('metrics charts', () => {
  let canvas: RecordingCanvases;
  beforeEach(() => {
    canvas = recordingCanvases();
  });
  afterEach(() => canvas.restore());

  it('paint a plain sample on the canvas without re-rendering the recharts frames', async () => {
    const cp = new FakeControlPlane();
    const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
    const view = renderCounted(stores);
    // The first sample sets the value axes (4 req/s outgrows the empty chart's 0 … 1).
    act(() => stores.metrics.getState().ingest(sample('mnist', 1, 120)));
    await painted();
    const start = view.frames();
    expect(start).toBeGreaterThan(0);

    canvas.calls.length = 0;
    act(() => stores.metrics.getState().ingest(sample('mnist', 2, 130)));
    act(() => stores.metrics.getState().ingest(sample('mnist', 3, 125)));
    await painted();
    // The lines moved (three latency lines, error rate, request rate were stroked)…
    expect(canvas.calls.filter((c) => c[0] === 'stroke').length).toBe(5);
    expect(canvas.calls.some((c) => c[0] === 'lineTo')).toBe(true);
    // …and no frame was rendered again: same window, same value axis (0 … 300 holds 130 and the threshold).
    expect(view.frames()).toBe(start);
    expect(view.container.querySelector('figure[aria-label^="Latency of mnist"]')?.getAttribute('aria-label')).toBe(
      'Latency of mnist over 5 m: p50 125 ms, p95 125 ms, p99 125 ms, threshold 250 ms',
    );

    // Another deployment's sample, this model's 1 Hz watcher check: nothing at all.
    canvas.calls.length = 0;
    act(() => stores.metrics.getState().ingest(sample('celeba', 2, 80)));
    act(() => stores.events.getState().ingest(event(2, 'mnist', 'check', { verdict: 'pass' })));
    await painted();
    expect(view.frames()).toBe(start);
    expect(canvas.calls).toEqual([]);
  });

  it('re-render the frame for a marker, a threshold, a window step and data that outgrows the value axis', async () => {
    const cp = new FakeControlPlane();
    const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
    const view = renderCounted(stores);
    act(() => stores.metrics.getState().ingest(sample('mnist', 1, 120)));
    let seen = view.frames();

    act(() => stores.events.getState().ingest(event(3, 'mnist', 'rollback', { to_version: 'v1', success: true })));
    expect(view.frames()).toBeGreaterThan(seen);
    expect(view.container.textContent).toContain('rollback → v1');
    seen = view.frames();

    act(() => view.rerender(300, T0 + 20_000));
    expect(view.frames()).toBeGreaterThan(seen);
    expect(view.container.textContent).toContain('threshold 300 ms');
    seen = view.frames();

    // Within the same 10 s step: no frame; into the next one: a frame.
    act(() => view.rerender(300, T0 + 29_000));
    expect(view.frames()).toBe(seen);
    act(() => view.rerender(300, T0 + 30_500));
    expect(view.frames()).toBeGreaterThan(seen);
    seen = view.frames();

    // 900 ms does not fit 0 … 350: the latency axis grows at once.
    act(() => stores.metrics.getState().ingest(sample('mnist', 25, 900)));
    expect(view.frames()).toBeGreaterThan(seen);
    // The value axis' labels are the plain numbers among the chart's tick labels (times have colons).
    const labels = [...view.container.querySelectorAll('figure[aria-label^="Latency"] text.recharts-cartesian-axis-tick-value')].map((t) => t.textContent ?? '');
    const yTicks = labels.filter((l) => /^\d+$/.test(l)).map(Number);
    expect(Math.max(...yTicks)).toBeGreaterThanOrEqual(900);
  });

  it('lay the canvas exactly over the plot area of the frame', async () => {
    const cp = new FakeControlPlane();
    const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
    const { container } = renderCounted(stores);
    await painted();
    const latency = container.querySelector('figure[aria-label^="Latency"] canvas') as HTMLCanvasElement;
    // 600 px wide, 220 high; y axis 56 px on the left, margins 8 top and 16 right, x axis 30 high.
    expect([latency.style.left, latency.style.top, latency.style.width, latency.style.height]).toEqual(['56px', '8px', '528px', '182px']);
    // The grid's outer lines are where the canvas' edges are.
    const xs = [...container.querySelectorAll('figure[aria-label^="Latency"] .recharts-cartesian-grid-vertical line')].map((l) => Number(l.getAttribute('x1')));
    expect(Math.min(...xs)).toBe(56);
    expect(Math.max(...xs)).toBe(584);
    expect(latency.getAttribute('aria-hidden')).toBe('true');
  });

  it('label the time axis with round times of the range', () => {
    const cp = new FakeControlPlane();
    const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
    const { container } = renderCounted(stores);
    act(() => stores.metrics.getState().ingest(sample('mnist', 1, 120)));
    // The first chart's tick labels: its x axis' five, then its y axis'.
    const ticks = [...container.querySelectorAll('text.recharts-cartesian-axis-tick-value')].map((t) => t.textContent);
    // 5 m window ending at the next 10 s step after T0 + 20 s (T0 + 30 s): whole minutes, T0 - 4 min … T0, in local time.
    const fmt = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    const expected = [4, 3, 2, 1, 0].map((m) => fmt.format(T0 - m * 60_000));
    expect(ticks.slice(0, 5)).toEqual(expected);
  });

  it('keep time labels on a narrow chart at least a label apart (every k-th round time)', () => {
    const xs = (width: number): number[] => {
      const cp = new FakeControlPlane();
      const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
      const { container } = renderCounted(stores, width);
      act(() => stores.metrics.getState().ingest(sample('mnist', 1, 120)));
      return [...container.querySelectorAll('figure[aria-label^="Latency"] .recharts-xAxis-tick-labels text.recharts-cartesian-axis-tick-value')].map((t) => Number(t.getAttribute('x')));
    };
    // 600 px leave room for a label every minute; 560 px (a minute is 98 px there) do not.
    expect(xs(600)).toHaveLength(5);
    const narrow = xs(560);
    expect(narrow.length).toBeGreaterThanOrEqual(2);
    expect(narrow.length).toBeLessThan(5);
    for (let i = 1; i < narrow.length; i++) expect(narrow[i]! - narrow[i - 1]!).toBeGreaterThanOrEqual(100);
  });
});
