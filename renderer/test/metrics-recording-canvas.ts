/**
 * jsdom has no 2D canvas context: for component tests of the live charts, the browser boundary
 * (`HTMLCanvasElement.getContext`) is replaced by contexts that record what is drawn, one per
 * canvas element.
 */
import { act } from '@testing-library/react';

/** One recorded call (or property set) on a canvas context. */
export type Call = readonly [string, ...unknown[]];

export interface RecordingCanvases {
  /** Every call on every canvas, in order. */
  readonly calls: Call[];
  /** The calls on one canvas. */
  of(canvas: Element | null): Call[];
  restore(): void;
}

/** Installs recording contexts on every canvas until `restore()`. */
export function recordingCanvases(): RecordingCanvases {
  const calls: Call[] = [];
  const perCanvas = new WeakMap<Element, Call[]>();
  const proto = HTMLCanvasElement.prototype as unknown as { getContext: unknown };
  const original = proto.getContext;
  proto.getContext = function getContext(this: HTMLCanvasElement): unknown {
    let own = perCanvas.get(this);
    if (!own) {
      own = [];
      perCanvas.set(this, own);
    }
    const mine = own;
    const record = (call: Call): void => {
      calls.push(call);
      mine.push(call);
    };
    return new Proxy(
      {},
      {
        get: (_t, prop: string) => (...args: unknown[]) => record([prop, ...args]),
        set: (_t, prop: string, value: unknown) => {
          record([`set ${prop}`, value]);
          return true;
        },
      },
    );
  };
  return {
    calls,
    of: (canvas) => (canvas ? (perCanvas.get(canvas) ?? []) : []),
    restore: () => {
      proto.getContext = original;
    },
  };
}

/** Lets the canvases paint (they paint in an animation frame). */
export async function painted(): Promise<void> {
  await act(async () => {
    await new Promise<void>((r) => requestAnimationFrame(() => r()));
  });
}
