import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { EventView } from '../../preload/contract';
import { App } from '../src/app';
import { Toasts } from '../src/components/toasts';
import { describeEvent } from '../src/domain/event-sentences';
import { createToastsStore, TOAST_MS, toastFor, type ToastTimers } from '../src/stores/toasts-store';
import { FakeControlPlane, version } from './fake-control-plane';
import { renderWith } from './render-app';

const ev = (id: number, event: string, fields: Record<string, unknown> = {}, model = 'gan'): EventView => ({
  id, ts: new Date(Date.UTC(2026, 0, 1, 12, 0, id)).toISOString(), model, event, ...fields,
});

/** Timers a test fires by hand: what would run after `ms`. */
class ManualTimers implements ToastTimers {
  private next = 0;
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  set(fn: () => void, ms: number): number {
    this.next += 1;
    this.pending.set(this.next, { fn, ms });
    return this.next;
  }
  clear(h: unknown): void {
    this.pending.delete(h as number);
  }
  fireAll(): void {
    for (const [h, t] of [...this.pending]) {
      this.pending.delete(h);
      t.fn();
    }
  }
}

describe('event sentences', () => {
  it('says what happened in words, per kind', () => {
    expect(describeEvent(ev(1, 'rollback', { from_version: 'v1', to_version: 'v2', actor: 'watcher', p95_ms: 312.4, error_rate: 0, success: true, reason: 'p95 over 100 ms' })))
      .toBe('Rolled back v1 → v2 by the watcher (p95 312 ms, errors 0.0 %) — “p95 over 100 ms”.');
    expect(describeEvent(ev(2, 'rollback', { from_version: 'v1', to_version: 'v2', success: false, error: 'v2 did not start' }))).toBe('Rollback v1 → v2 failed: v2 did not start.');
    expect(describeEvent(ev(3, 'check', { version: 'v2', verdict: 'inconclusive', requests: 3, p95_ms: null, error_rate: null }))).toBe('Check of v2: inconclusive (too few requests) — 3 requests.');
    expect(describeEvent(ev(4, 'promote', { version: 'v2', from_stage: 'staging', to_stage: 'production', actor: 'gui', archived_version: 'v1', reason: null })))
      .toBe('v2 promoted staging → production by gui; v1 archived.');
    expect(describeEvent(ev(5, 'drill', { version: 'v1', action: 'start', latency_ms: 300, error_rate: null, seed: 1 }))).toBe('Fault drill started on v1: +300 ms.');
    expect(describeEvent(ev(6, 'alert', { channel: 'slack', outcome: 'failed', about_event: 'rollback', error: 'HTTP 500' }))).toBe('Alert about the rollback to slack failed: HTTP 500.');
    expect(describeEvent(ev(7, 'something_new', { a: 1, nested: { b: 2 } }))).toBe('something new: a=1');
  });

  it('toasts rollbacks (not the ones clicked here), drift and failed alerts; not checks or delivered alerts', () => {
    expect(toastFor(ev(1, 'rollback', { from_version: 'v1', to_version: 'v2', actor: 'watcher', success: true }))).toMatchObject({ level: 'warning', title: 'Rollback: gan', model: 'gan' });
    expect(toastFor(ev(2, 'rollback', { success: false, error: 'x' }))).toMatchObject({ level: 'critical', title: 'Rollback failed: gan' });
    expect(toastFor(ev(3, 'rollback', { actor: 'gui', success: true }))).toBeNull();
    expect(toastFor(ev(4, 'drift', { version: 'v1', severity: 'HIGH', consecutive: 2, groups: ['pixels'] }))).toMatchObject({ level: 'critical' });
    expect(toastFor(ev(5, 'check', { verdict: 'breach' }))).toBeNull();
    expect(toastFor(ev(6, 'alert', { outcome: 'sent' }))).toBeNull();
    expect(toastFor(ev(7, 'alert', { outcome: 'failed' }))).toMatchObject({ level: 'warning' });
  });
});

describe('toasts', () => {
  it('a pushed rollback shows a toast once, which leaves after its time; a critical one stays', () => {
    const cp = new FakeControlPlane();
    const timers = new ManualTimers();
    const store = createToastsStore(cp, timers);
    store.getState().start();
    cp.emit('event', ev(1, 'rollback', { from_version: 'v1', to_version: 'v2', actor: 'watcher', success: true }));
    cp.emit('event', ev(1, 'rollback', { from_version: 'v1', to_version: 'v2', actor: 'watcher', success: true }));
    cp.emit('event', ev(2, 'check', { verdict: 'pass' }));
    cp.emit('event', ev(3, 'rollback', { from_version: 'v2', to_version: 'v1', success: false, error: 'no' }));
    expect(store.getState().toasts.map((t) => t.key)).toEqual(['1', '3']);
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([TOAST_MS]);
    timers.fireAll();
    expect(store.getState().toasts.map((t) => t.key)).toEqual(['3']);
  });

  it('renders the toast with Open and Dismiss; Open shows the model', async () => {
    const cp = new FakeControlPlane();
    cp.addModel('gan', [version('v1', 'production')]);
    cp.addModel('other', [version('v1', 'production')]);
    const { stores } = renderWith(cp, <App />);
    stores.toasts.getState().start();
    await act(async () => {
      await stores.deployments.getState().refreshList();
    });
    expect(stores.deployments.getState().selected).toBe('gan');
    act(() => cp.emit('event', ev(1, 'rollback', { from_version: 'v1', to_version: 'v2', actor: 'watcher', success: true }, 'other')));
    const region = screen.getByRole('region', { name: 'Notifications' });
    const [toast] = within(region).getAllByRole('status');
    if (!toast) throw new Error('no toast');
    expect(toast.textContent).toContain('Rollback: other');
    expect(toast.textContent).toContain('Rolled back v1 → v2 by the watcher.');
    fireEvent.click(screen.getByRole('button', { name: 'Open other' }));
    expect(stores.deployments.getState().selected).toBe('other');
    expect(stores.toasts.getState().toasts).toHaveLength(0);
    act(() => cp.emit('event', ev(2, 'drift', { version: 'v1', severity: 'MEDIUM', consecutive: 2, groups: ['pixels'] })));
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss: Drift: gan' }));
    expect(screen.queryByText(/Drift on v1/)).toBeNull();
  });

  it('renders nothing but the empty region without toasts', () => {
    const cp = new FakeControlPlane();
    renderWith(cp, <Toasts />);
    expect(screen.getByRole('region', { name: 'Notifications' }).childElementCount).toBe(0);
  });
});
