/**
 * The live lines of a chart, painted on a <canvas> laid over the recharts frame (axes, grid,
 * threshold, markers). Recharts redraws its SVG only when the frame changes (a window step, a
 * new value axis, markers, threshold, size); the lines move every second here, at the cost of a
 * few hundred lineTo calls instead of a whole recharts render.
 *
 * Pure functions over a minimal context interface, so they are tested without a browser.
 */
import type { FrameWindow, SeriesPoint } from './chart-series';

/** The part of CanvasRenderingContext2D the lines need. */
export interface LineContext {
  strokeStyle: string | CanvasGradient | CanvasPattern;
  lineWidth: number;
  lineJoin: CanvasLineJoin;
  setTransform(a: number, b: number, c: number, d: number, e: number, f: number): void;
  clearRect(x: number, y: number, w: number, h: number): void;
  beginPath(): void;
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
  stroke(): void;
}

/** The plot area's scales: the same as the frame's x and y axes. */
export interface PlotScale {
  readonly window: FrameWindow;
  /** The value axis' top (its bottom is 0). */
  readonly yMax: number;
  /** Plot area size in CSS pixels. */
  readonly width: number;
  readonly height: number;
}

/** A series to draw: which field, in which colour (a CSS colour, resolved) and width. */
export interface CanvasLine {
  readonly key: keyof Omit<SeriesPoint, 't'>;
  readonly color: string;
  readonly width: number;
}

/** Plot x (CSS px) of a time. */
export function xOf(t: number, scale: PlotScale): number {
  const { startMs, endMs } = scale.window;
  return ((t - startMs) / (endMs - startMs)) * scale.width;
}

/** Plot y (CSS px, 0 at the top) of a value; values above the axis are held at its top. */
export function yOf(v: number, scale: PlotScale): number {
  const clamped = Math.min(Math.max(v, 0), scale.yMax);
  return scale.height - (clamped / scale.yMax) * scale.height;
}

/**
 * One series as polyline segments in plot coordinates: a run of buckets with values is one
 * segment, and a bucket without data ends it (a gap, never a drop to zero). Buckets outside the
 * window are left out.
 */
export function seriesSegments(points: readonly SeriesPoint[], key: CanvasLine['key'], scale: PlotScale): [number, number][][] {
  const segments: [number, number][][] = [];
  let current: [number, number][] | null = null;
  for (const p of points) {
    const v = p[key];
    if (v === null || !Number.isFinite(v) || p.t < scale.window.startMs || p.t >= scale.window.endMs) {
      current = null;
      continue;
    }
    if (!current) {
      current = [];
      segments.push(current);
    }
    current.push([xOf(p.t, scale), yOf(v, scale)]);
  }
  return segments;
}

/**
 * Clears the canvas and strokes each line, devicePixelRatio aware: the canvas' backing store is
 * `dpr` times its CSS size and the transform maps CSS pixels onto it, so lines stay sharp. A
 * lone bucket between gaps is drawn as a short dash (a path of one point would not show).
 */
export function drawLines(ctx: LineContext, points: readonly SeriesPoint[], lines: readonly CanvasLine[], scale: PlotScale, dpr: number): void {
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, scale.width, scale.height);
  ctx.lineJoin = 'round';
  for (const line of lines) {
    const segments = seriesSegments(points, line.key, scale);
    if (segments.length === 0) continue;
    ctx.strokeStyle = line.color;
    ctx.lineWidth = line.width;
    ctx.beginPath();
    for (const seg of segments) {
      const [x0, y0] = seg[0]!;
      ctx.moveTo(x0, y0);
      if (seg.length === 1) ctx.lineTo(x0 + 2, y0);
      for (let i = 1; i < seg.length; i += 1) ctx.lineTo(seg[i]![0], seg[i]![1]);
    }
    ctx.stroke();
  }
}
