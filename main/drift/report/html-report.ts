/**
 * `frameworm shift report`: one self-contained HTML file (no scripts, no external resources)
 * with the deployment's drift state and, per feature, the reference and current histograms
 * drawn as inline SVG on shared bins, so a shift is visible as a picture, not only as numbers.
 */
import type { ShiftStatusView } from '../../../preload/contract.js';
import type { GroupSamples } from '../stats/types.js';

export interface DriftReportInput {
  readonly name: string;
  readonly status: ShiftStatusView;
  readonly reference: readonly GroupSamples[];
  readonly current: readonly GroupSamples[];
  readonly now?: Date;
}

const BINS = 24;
/** Histograms drawn per numeric group at most (an embedding has 24 columns; a z group may have 128). */
const MAX_FEATURES_PER_GROUP = 12;
const W = 260;
const H = 90;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function num(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(digits) : v.toExponential(2);
}

/** Column `j` of a group (numeric: that feature; scalar: the values). */
function column(g: GroupSamples, j: number): number[] {
  if (g.kind === 'numeric') return g.rows.map((r) => r[j] ?? NaN).filter(Number.isFinite);
  if (g.kind === 'scalar') return g.rows.filter(Number.isFinite);
  return [];
}

function featureNames(g: GroupSamples): string[] {
  if (g.kind === 'numeric') {
    const width = g.rows[0]?.length ?? 0;
    return g.featureNames ? [...g.featureNames] : Array.from({ length: width }, (_, i) => `${g.name}[${i}]`);
  }
  return [g.name];
}

/** Two histograms on shared bins, reference filled grey, current outlined. */
function histogramSvg(ref: readonly number[], cur: readonly number[], title: string): string {
  const all = [...ref, ...cur];
  if (all.length === 0) return `<p class="empty">${esc(title)}: no values</p>`;
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const bin = (v: number): number => Math.min(BINS - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * BINS)));
  const density = (xs: readonly number[]): number[] => {
    const h = new Array<number>(BINS).fill(0);
    for (const x of xs) h[bin(x)] = (h[bin(x)] ?? 0) + 1;
    return h.map((c) => (xs.length > 0 ? c / xs.length : 0));
  };
  const r = density(ref);
  const c = density(cur);
  const top = Math.max(...r, ...c, 1e-9);
  const bw = W / BINS;
  const bars = r.map((v, i) => `<rect x="${(i * bw).toFixed(1)}" y="${(H - (v / top) * H).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${((v / top) * H).toFixed(1)}" fill="#9aa5b1"/>`).join('');
  const line = c.map((v, i) => `${(i * bw + bw / 2).toFixed(1)},${(H - (v / top) * H).toFixed(1)}`).join(' ');
  return `<figure><svg width="${W}" height="${H + 14}" viewBox="0 0 ${W} ${H + 14}" role="img" aria-label="${esc(title)}: reference (bars) and current (line)">${bars}<polyline points="${line}" fill="none" stroke="#d9480f" stroke-width="2"/><text x="0" y="${H + 12}" font-size="10">${esc(num(lo))}</text><text x="${W}" y="${H + 12}" font-size="10" text-anchor="end">${esc(num(hi))}</text></svg><figcaption>${esc(title)}</figcaption></figure>`;
}

function categoricalTable(ref: readonly string[], cur: readonly string[], title: string): string {
  const count = (xs: readonly string[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
    return m;
  };
  const a = count(ref);
  const b = count(cur);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  const pct = (m: Map<string, number>, n: number, k: string): string => (n > 0 ? `${(((m.get(k) ?? 0) / n) * 100).toFixed(1)} %` : '–');
  const rows = keys.map((k) => `<tr><td>${esc(k)}</td><td>${pct(a, ref.length, k)}</td><td>${pct(b, cur.length, k)}</td></tr>`).join('');
  return `<table><caption>${esc(title)}</caption><tr><th>category</th><th>reference</th><th>current</th></tr>${rows}</table>`;
}

/** The report's HTML text. */
export function renderDriftReport(input: DriftReportInput): string {
  const { status } = input;
  const last = status.last;
  const curByName = new Map(input.current.map((g) => [g.name, g] as const));
  const resultByName = new Map((last?.groups ?? []).map((g) => [g.name, g] as const));
  const sections: string[] = [];
  for (const ref of input.reference) {
    const cur = curByName.get(ref.name);
    const res = resultByName.get(ref.name);
    const verdict = res
      ? `${esc(res.test)} p=${num(res.p_value)} (adjusted ${num(res.p_adjusted)}), effect ${num(res.effect)}, ${res.drifted ? '<b>drifted</b>' : 'no drift'}, ${esc(res.severity)}${res.skipped_reason ? `, skipped: ${esc(res.skipped_reason)}` : ''}`
      : 'not tested yet';
    let body = '';
    if (ref.kind === 'categorical') {
      body = categoricalTable(ref.rows, cur?.kind === 'categorical' ? cur.rows : [], ref.name);
    } else {
      const names = featureNames(ref);
      const shown = names.slice(0, MAX_FEATURES_PER_GROUP);
      body = shown.map((f, j) => histogramSvg(column(ref, j), cur && cur.kind === ref.kind ? column(cur, j) : [], f)).join('');
      if (names.length > shown.length) body += `<p class="more">${names.length - shown.length} more feature(s) not drawn</p>`;
    }
    sections.push(`<section><h2>${esc(ref.name)}</h2><p>${verdict}</p><div class="figs">${body}</div></section>`);
  }
  const t = status.tracker;
  const summary = last
    ? `Last check ${esc(last.ts)} on ${esc(last.version)}: <b>${last.drifted ? 'DRIFTED' : 'no drift'}</b>, severity ${esc(last.severity)}, ${last.consecutive} drifted window(s) in a row; reference ${last.window.reference} vs current ${last.window.current} rows.`
    : 'No window has been checked yet.';
  const ref = t ? `Reference: ${esc(t.reference_source)}, ${t.reference_rows} rows${t.reference_ready ? '' : ' (still filling)'}; window ${t.window_rows}/${t.window_size} rows; ${t.windows_checked} window(s) checked.` : 'No sampled traffic yet.';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report: ${esc(input.name)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#1f2933;background:#fff}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
.figs{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-size:11px;color:#52606d}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #cbd2d9;padding:2px 8px;text-align:right}
caption{text-align:left;font-size:12px}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
</style></head><body>
<h1>Drift report: ${esc(input.name)}</h1>
<p>Generated ${esc((input.now ?? new Date()).toISOString())}. ${summary}</p>
<p>${ref}</p>
<p class="legend">Reference<span style="background:#9aa5b1"></span> Current<span style="background:#d9480f"></span></p>
${sections.join('\n') || '<p>No reference rows yet.</p>'}
</body></html>
`;
}
