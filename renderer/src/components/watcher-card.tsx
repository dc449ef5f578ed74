/**
 * The rollback watcher of a deployment: its rule in words, the breach streak, the last verdicts
 * (an inconclusive check is shown as such — it neither breaches nor resets), and the cooldown.
 */
import type { ReactNode } from 'react';
import type { EventView, WatcherView } from '../../../preload/contract';
import { formatMs, formatRate, formatTime } from '../domain/format';

const VERDICT_TEXT: Readonly<Record<string, string>> = {
  pass: 'pass',
  breach: 'breach',
  inconclusive: 'inconclusive (too few requests)',
  error: 'error (could not measure)',
};

function verdictOf(e: EventView): string {
  const v = e['verdict'];
  return typeof v === 'string' ? v : 'unknown';
}

function num(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

export function WatcherCard({ watcher }: { readonly watcher: WatcherView | null | undefined }): ReactNode {
  if (!watcher) {
    return (
      <section className="card" aria-labelledby="watcher-title">
        <h2 id="watcher-title">Watcher</h2>
        <p className="muted">Not watching: no production version is served.</p>
      </section>
    );
  }
  const cooling = watcher.cooldown_until !== null && Date.parse(watcher.cooldown_until) > Date.now();
  const checks = [...watcher.last_checks].reverse();
  return (
    <section className="card" aria-labelledby="watcher-title">
      <h2 id="watcher-title">Watcher</h2>
      <p>{watcher.rule}</p>
      <p>
        <strong>
          Breach streak {watcher.streak} of {watcher.required}
        </strong>
        {watcher.next_check_at ? <span className="muted"> · next check {formatTime(watcher.next_check_at)}</span> : null}
        {cooling ? <span className="badge warn"> cooldown until {formatTime(watcher.cooldown_until)}</span> : null}
      </p>
      {checks.length === 0 ? (
        <p className="muted">No checks yet.</p>
      ) : (
        <ol className="verdicts" aria-label="Last verdicts, newest first">
          {checks.map((c, i) => {
            const verdict = verdictOf(c);
            return (
              <li key={c.id ?? `${c.ts}-${i}`} className={`verdict verdict-${verdict}`}>
                <span className={`badge verdict-${verdict}`}>{VERDICT_TEXT[verdict] ?? verdict}</span>{' '}
                <span className="muted">{formatTime(c.ts)}</span> · p95 {formatMs(num(c['p95_ms']))} · errors {formatRate(num(c['error_rate']))} · {String(c['requests'] ?? 0)} requests
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
