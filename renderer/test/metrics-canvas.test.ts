import { describe, expect, it } from 'vitest';
import type { MetricsSample } from '../../preload/contract';
import { drawLines, seriesSegments, type LineContext, type PlotScale } from '../src/domain/chart-canvas';
import { buildWindowSeries, frameWindow, rangeSpec, seriesMax, valueAxis, type SeriesPoint } from '../src/domain/chart-series';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A LineContext that records every call and property set, in order. */
class RecordingContext implements LineContext {
  readonly calls: string[] = [];
  private stroke_ = '';
  private width_ = 1;
  private join_: CanvasLineJoin = 'miter';
  get strokeStyle(): string {
    return this.stroke_;
  }
  set strokeStyle(v: string) {
    this.stroke_ = v;
    this.calls.push(`strokeStyle ${v}`);
  }
  get lineWidth(): number {
    return this.width_;
  }
  set lineWidth(v: number) {
    this.width_ = v;
    this.calls.push(`lineWidth ${v}`);
  }
  get lineJoin(): CanvasLineJoin {
    return this.join_;
  }
  set lineJoin(v: CanvasLineJoin) {
    this.join_ = v;
  }
  setTransform(a: number, b: number, c: number, d: number, e: number, f: number): void {
    this.calls.push(`setTransform ${[a, b, c, d, e, f].join(' ')}`);
  }
  clearRect(x: number, y: number, w: number, h: number): void {
    this.calls.push(`clearRect ${x} ${y} ${w} ${h}`);
  }
  beginPath(): void {
    this.calls.push('beginPath');
  }
  moveTo(x: number, y: number): void {
    this.calls.push(`moveTo ${x} ${y}`);
  }
  lineTo(x: number, y: number): void {
    this.calls.push(`lineTo ${x} ${y}`);
  }
  stroke(): void {
    this.calls.push('stroke');
  }
}

function point(t: number, p95: number | null): SeriesPoint {
  return { t, p50: null, p95, p99: null, errorPct: null, rps: null };
}

// A 100 s window over a 1000 × 200 plot, values 0 … 100: 10 px per second, 2 px per unit.
const SCALE: PlotScale = { window: { startMs: T0, endMs: T0 + 100_000, stepMs: 10_000 }, yMax: 100, width: 1000, height: 200 };

describe('chart lines on the canvas', () => {
  it('break the path at gaps instead of dropping to zero, in the frame scales', () => {
    const points = [point(T0, 50), point(T0 + 10_000, 100), point(T0 + 20_000, null), point(T0 + 30_000, 0), point(T0 + 40_000, 25)];
    expect(seriesSegments(points, 'p95', SCALE)).toEqual([
      [
        [0, 100],
        [100, 0],
      ],
      [
        [300, 200],
        [400, 150],
      ],
    ]);
  });

  it('hold values above the value axis at its top and leave out buckets outside the window', () => {
    const points = [point(T0 - 10_000, 10), point(T0, 500), point(T0 + 100_000, 10)];
    expect(seriesSegments(points, 'p95', SCALE)).toEqual([[[0, 0]]]);
  });

  it('draw each line in its colour at the device pixel ratio, one moveTo per segment, a dash for a lone bucket', () => {
    const ctx = new RecordingContext();
    const points: SeriesPoint[] = [
      { t: T0, p50: 10, p95: 50, p99: null, errorPct: null, rps: null },
      { t: T0 + 10_000, p50: 20, p95: null, p99: null, errorPct: null, rps: null },
    ];
    drawLines(
      ctx,
      points,
      [
        { key: 'p50', color: '#2563eb', width: 1.5 },
        { key: 'p95', color: '#7c3aed', width: 2 },
        { key: 'p99', color: '#0f766e', width: 1.5 },
      ],
      SCALE,
      2,
    );
    expect(ctx.calls).toEqual([
      'setTransform 2 0 0 2 0 0',
      'clearRect 0 0 1000 200',
      'strokeStyle #2563eb',
      'lineWidth 1.5',
      'beginPath',
      'moveTo 0 180',
      'lineTo 100 160',
      'stroke',
      'strokeStyle #7c3aed',
      'lineWidth 2',
      'beginPath',
      'moveTo 0 100',
      'lineTo 2 100',
      'stroke',
      // p99 has no data: not stroked at all.
    ]);
  });
});

describe('chart frame', () => {
  it('moves its window in 10 s steps on the 5 m range, the right edge ahead of now', () => {
    const range = rangeSpec('5m');
    const a = frameWindow(range, T0 + 20_000);
    expect(a).toEqual({ startMs: T0 + 30_000 - 300_000, endMs: T0 + 30_000, stepMs: 10_000 });
    expect(frameWindow(range, T0 + 29_999)).toEqual(a);
    expect(frameWindow(range, T0 + 30_000).endMs).toBe(T0 + 40_000);
    expect(frameWindow(rangeSpec('15m'), T0 + 1000).stepMs).toBe(30_000);
    expect(frameWindow(rangeSpec('1h'), T0 + 1000).endMs).toBe(T0 + 60_000);
  });

  it('buckets the window exactly: first bucket at its start, none past its end, the future empty', () => {
    const s = (sec: number, p95: number): MetricsSample => ({ name: 'm', ts: T0 + sec * 1000, p50_ms: p95, p95_ms: p95, p99_ms: p95, error_rate: 0, requests_per_s: 1, version: 'v1' });
    for (const key of ['5m', '15m', '1h'] as const) {
      const range = rangeSpec(key);
      const w = frameWindow(range, T0 + 5_000);
      const rows = buildWindowSeries([s(0, 10), s(4, 20)], range, w);
      expect(rows[0]!.t).toBe(w.startMs);
      expect(rows[rows.length - 1]!.t + range.bucketS * 1000).toBe(w.endMs);
      expect(seriesMax(rows, ['p95'])).toBe(20);
      expect(rows.filter((r) => r.t > T0 + 5_000).every((r) => r.p95 === null)).toBe(true);
    }
  });

  it('fixes a round value axis that holds the threshold and the data', () => {
    expect(valueAxis(130, 250)).toEqual({ max: 300, ticks: [0, 100, 200, 300] });
    expect(valueAxis(900, 250).max).toBeGreaterThanOrEqual(900);
    expect(valueAxis(null, null, 10)).toEqual({ max: 10, ticks: [0, 2, 4, 6, 8, 10] });
    expect(valueAxis(0.3, null).ticks).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(valueAxis(4, null).max).toBe(5);
  });
});
