import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { EventView } from '../../preload/contract';
import { EventTimeline } from '../src/components/event-timeline';
import { createEventsStore, EVENT_CATEGORIES, filterEvents, mergeEvents } from '../src/stores/events-store';
import { FakeControlPlane } from './fake-control-plane';
import { renderWith } from './render-app';

const ev = (id: number, event: string, fields: Record<string, unknown> = {}): EventView => ({
  id, ts: new Date(Date.UTC(2026, 0, 1, 12, 0, id)).toISOString(), model: 'mnist', event, ...fields,
});

describe('events store', () => {
  it('loads events.list, then adds event pushes once each, oldest first', async () => {
    const cp = new FakeControlPlane();
    cp.events = [ev(1, 'deploy', { version: 'v1' }), ev(2, 'check', { verdict: 'pass' })];
    const store = createEventsStore(cp);
    store.getState().start();
    await store.getState().load('mnist');
    cp.emit('event', ev(3, 'check', { verdict: 'breach' }));
    cp.emit('event', ev(2, 'check', { verdict: 'pass' }));
    cp.emit('event', { ...ev(9, 'deploy'), model: 'other' });
    expect(store.getState().byModel['mnist']!.map((e) => e.id)).toEqual([1, 2, 3]);
    expect(store.getState().byModel['other']!.map((e) => e.id)).toEqual([9]);
  });

  it('filters by category and text, newest first', () => {
    const events = [ev(1, 'deploy', { version: 'v1' }), ev(2, 'check', { verdict: 'inconclusive' }), ev(3, 'rollback', { to_version: 'v1' }), ev(4, 'alert', { channel: 'slack' })];
    const all = new Set(EVENT_CATEGORIES);
    expect(filterEvents(events, { categories: all, text: '' }).map((e) => e.id)).toEqual([4, 3, 2, 1]);
    expect(filterEvents(events, { categories: new Set(['checks', 'rollbacks'] as const), text: '' }).map((e) => e.id)).toEqual([3, 2]);
    expect(filterEvents(events, { categories: all, text: 'INCONCLUSIVE' }).map((e) => e.id)).toEqual([2]);
  });

  it('keeps at most 1000 events per model', () => {
    let list: EventView[] = [];
    list = mergeEvents(list, Array.from({ length: 1200 }, (_, i) => ev(i + 1, 'check')));
    expect(list).toHaveLength(1000);
    expect(list[0]!.id).toBe(201);
  });
});

describe('event timeline', () => {
  it('shows pushed events and hides a category when its filter is unticked', async () => {
    const cp = new FakeControlPlane();
    const { stores } = renderWith(cp, <EventTimeline name="mnist" />);
    stores.events.getState().start();
    act(() => {
      cp.emit('event', ev(1, 'deploy', { version: 'v1' }));
      cp.emit('event', ev(2, 'check', { verdict: 'inconclusive', requests: 3 }));
      cp.emit('event', ev(3, 'rollback', { to_version: 'v1', reason: 'p95 breach' }));
    });
    const list = screen.getByRole('list', { name: 'Events of mnist, newest first' });
    expect(within(list).getAllByRole('listitem').map((li) => li.querySelector('strong')!.textContent)).toEqual(['rollback', 'check', 'deploy']);
    fireEvent.click(screen.getByRole('checkbox', { name: 'checks' }));
    expect(within(list).getAllByRole('listitem').map((li) => li.querySelector('strong')!.textContent)).toEqual(['rollback', 'deploy']);
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search events' }), { target: { value: 'p95 breach' } });
    expect(within(list).getAllByRole('listitem')).toHaveLength(1);
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search events' }), { target: { value: 'nothing like this' } });
    expect(screen.getByText('No events match the filters.')).toBeTruthy();
  });
});
