/** Small display helpers shared by the panels. */

/** Milliseconds with sensible precision, or an em dash. */
export function formatMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

/** A 0–1 rate as a percentage, or an em dash. */
export function formatRate(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${(v * 100).toFixed(v < 0.01 && v > 0 ? 2 : 1)} %`;
}

/** An ISO time as local date and time, or the input when it does not parse. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** The first 12 characters of a hash (sha256:… prefixes kept), or an em dash. */
export function shortHash(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) return '—';
  const m = /^(sha256:)?([0-9a-f]+)$/i.exec(v);
  if (!m) return v;
  return `${m[1] ?? ''}${(m[2] ?? '').slice(0, 12)}`;
}

/** Bytes in B / KiB / MiB / GiB. */
export function formatBytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** A count with thousands separators. */
export function formatCount(n: unknown): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '—';
}
