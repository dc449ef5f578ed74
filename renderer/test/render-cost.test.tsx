/**
 * What a push costs the page beyond the charts (issue 11's benchmark): pushes delivered a frame
 * at a time, the sidebar re-rendering only a light that changed, events appended without a sort,
 * and marker labels at (nearly) the same x joined or stepped down instead of overprinted.
 */
import { act, render, screen, within } from '@testing-library/react';
import { Profiler } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventView } from '../../preload/contract';
import { PushBatcher } from '../src/bridge/push-batcher';
import { MetricsCharts } from '../src/components/metrics-charts';
import { ModelsSidebar } from '../src/components/models-sidebar';
import { layoutMarkerLabels, type ChartMarker } from '../src/domain/chart-series';
import { createAppStores, startAppStores, StoresProvider } from '../src/stores/app-stores';
import { mergeEvents } from '../src/stores/events-store';
import { FakeControlPlane, version, watcher } from './fake-control-plane';
import { recordingCanvases, type RecordingCanvases } from './metrics-recording-canvas';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function ev(id: number, event: string, fields: Record<string, unknown> = {}, at = T0 + id * 1000): EventView {
  return { id, ts: new Date(at).toISOString(), model: 'mnist', event, ...fields };
}

async function settle(): Promise<void> {
  await act(async () => {
    for (let i = 0; i < 10; i += 1) await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
  });
}

describe('push batcher', () => {
  it('delivers queued pushes together and in order at the scheduled flush, and at once on flush()', () => {
    const got: string[] = [];
    let scheduled: (() => void) | null = null;
    const batcher = new PushBatcher(
      (channel, payload) => got.push(`${channel}:${String(payload)}`),
      (fn) => {
        scheduled = fn;
        return () => {
          scheduled = null;
        };
      },
    );
    batcher.push('event', 1);
    batcher.push('watcher.state', 2);
    batcher.push('metrics.sample', 3);
    expect(got).toEqual([]);
    expect(scheduled).not.toBeNull();
    scheduled!();
    expect(got).toEqual(['event:1', 'watcher.state:2', 'metrics.sample:3']);

    batcher.push('event', 4);
    batcher.flush();
    expect(got.at(-1)).toBe('event:4');
    // The flush cancelled the scheduled one: nothing is delivered twice.
    expect(scheduled).toBeNull();
    expect(got).toHaveLength(4);
  });
});

describe('events store append', () => {
  it('appends a newer event like the full merge does, bounded and without duplicates', () => {
    let fast: EventView[] = [];
    let slow: EventView[] = [];
    for (let i = 1; i <= 1100; i += 1) {
      fast = mergeEvents(fast, [ev(i, 'check')]);
      slow = mergeEvents(slow, [ev(i, 'check'), ev(i, 'check')]);
    }
    expect(fast.map((e) => e.id)).toEqual(slow.map((e) => e.id));
    expect(fast).toHaveLength(1000);
    expect(fast[0]!.id).toBe(101);
    // An older or repeated event still goes through the full merge.
    expect(mergeEvents(fast, [ev(1100, 'check')])).toHaveLength(1000);
    expect(mergeEvents([ev(5, 'check')], [ev(3, 'deploy')]).map((e) => e.id)).toEqual([3, 5]);
  });
});

describe('models sidebar', () => {
  it('does not re-render for a watcher check that leaves every light as it was, and re-renders for one that changes a light', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('mnist', [version('v1', 'production')], watcher());
    cp.addModel('celeba', [version('v1', 'production')], watcher());
    const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
    let commits = 0;
    render(
      <StoresProvider stores={stores}>
        <Profiler id="sidebar" onRender={() => (commits += 1)}>
          <ModelsSidebar />
        </Profiler>
      </StoresProvider>,
    );
    startAppStores(stores);
    await settle();
    const nav = screen.getByRole('navigation', { name: 'Models' });
    const light = (name: RegExp): string | null => within(nav).getByRole('button', { name }).querySelector('[role=img]')!.getAttribute('aria-label');
    expect(light(/celeba/)).toBe('health: healthy');

    const before = commits;
    act(() => cp.emit('watcher.state', { name: 'celeba', watcher: watcher({ next_check_at: new Date(T0).toISOString() }) }));
    act(() => cp.emit('watcher.state', { name: 'mnist', watcher: watcher({ next_check_at: new Date(T0).toISOString() }) }));
    expect(commits).toBe(before);

    act(() => cp.emit('watcher.state', { name: 'celeba', watcher: watcher({ streak: 1 }) }));
    expect(commits).toBe(before + 1);
    expect(light(/celeba/)).toBe('health: degraded');
    expect(light(/mnist/)).toBe('health: healthy');
  });
});

describe('marker labels', () => {
  const m = (t: number, label: string): ChartMarker => ({ t, kind: 'deploy', label });

  it('joins markers within a few pixels, steps down a label that would run into the previous one, and leaves distant ones on the top row', () => {
    // 600 px for 600 s: 1 px per second.
    const end = T0 + 600_000;
    const labels = layoutMarkerLabels([m(T0 + 100_000, 'deploy v1'), m(T0 + 103_000, 'promote v2'), m(T0 + 130_000, 'rollback → v1'), m(T0 + 400_000, 'deploy v3')], T0, end, 600);
    expect(labels).toEqual([{ text: 'deploy v1 · promote v2', row: 0 }, null, { text: 'rollback → v1', row: 1 }, { text: 'deploy v3', row: 0 }]);
  });

  describe('on the charts', () => {
    let canvas: RecordingCanvases;
    beforeEach(() => {
      canvas = recordingCanvases();
    });
    afterEach(() => canvas.restore());

    it('draws one joined label for a deploy and a promotion in the same second', () => {
      const stores = createAppStores(new FakeControlPlane(), { metrics: { flushMs: 0 } });
      act(() => {
        stores.events.getState().ingest(ev(1, 'deploy', { version: 'v1', stage: 'production' }, T0 + 10_000));
        stores.events.getState().ingest(ev(2, 'promote', { version: 'v2', to_stage: 'production' }, T0 + 10_000));
      });
      const view = render(
        <StoresProvider stores={stores}>
          <MetricsCharts name="mnist" threshold={250} width={600} now={T0 + 20_000} />
        </StoresProvider>,
      );
      const texts = [...view.container.querySelectorAll('text')].map((t) => t.textContent);
      expect(texts).toContain('deploy v1 · promote v2');
      expect(texts).not.toContain('deploy v1');
    });
  });
});
