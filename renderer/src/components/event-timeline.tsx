/**
 * A model's event timeline, newest first, with category filters and a text search: each event
 * as a sentence (its raw fields in the tooltip). Rows are memoised on their event (the store
 * keeps each event's object as it is), so a new event renders one row, not all of them.
 */
import { memo, useMemo, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { EventView } from '../../../preload/contract';
import { describeEvent, eventFields } from '../domain/event-sentences';
import { formatTime } from '../domain/format';
import { useStores } from '../stores/app-stores';
import { categoryOf, EVENT_CATEGORIES, filterEvents } from '../stores/events-store';

const NO_EVENTS: readonly EventView[] = [];

const EventRow = memo(function EventRow({ event }: { readonly event: EventView }): ReactNode {
  return (
    <li className={`event cat-${categoryOf(event.event)}`}>
      <time dateTime={event.ts}>{formatTime(event.ts)}</time> <strong>{event.event}</strong> <span title={eventFields(event)}>{describeEvent(event)}</span>
    </li>
  );
});

export function EventTimeline({ name, limit = 200 }: { readonly name: string; readonly limit?: number }): ReactNode {
  const { events } = useStores();
  const all = useStore(events, (s) => s.byModel[name] ?? NO_EVENTS);
  const filter = useStore(events, (s) => s.filter);
  const shown = useMemo(() => filterEvents(all, filter, limit), [all, filter, limit]);

  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Events</h2>
      <div className="row wrap" role="group" aria-label="Event filters">
        {EVENT_CATEGORIES.map((c) => (
          <label key={c} className="chip">
            <input type="checkbox" checked={filter.categories.has(c)} onChange={() => events.getState().toggleCategory(c)} /> {c}
          </label>
        ))}
        <label className="grow">
          <span className="sr-only">Search events</span>
          <input type="search" placeholder="search events" value={filter.text} onChange={(e) => events.getState().setText(e.target.value)} />
        </label>
      </div>
      {shown.length === 0 ? <p className="muted">No events{all.length > 0 ? ' match the filters' : ''}.</p> : null}
      <ol className="timeline" aria-label={`Events of ${name}, newest first`}>
        {shown.map((e, i) => (
          <EventRow key={e.id ?? `${e.ts}-${i}`} event={e} />
        ))}
      </ol>
    </section>
  );
}
