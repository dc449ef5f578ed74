import { describe, expect, it } from 'vitest';
import { FifoGate } from '../../../main/serving/fifo-gate.js';

/** A promise settled from outside, to hold work open as long as a test needs. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('FifoGate', () => {
  it('admits at most `capacity` at once, in arrival order', async () => {
    const gate = new FifoGate(2);
    const started: number[] = [];
    const holds = Array.from({ length: 5 }, () => deferred());
    const runs = holds.map((h, i) =>
      gate.run(async () => {
        started.push(i);
        await h.promise;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    expect([gate.active, gate.waiting]).toEqual([2, 3]);
    holds[1]!.resolve();
    await runs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const h of holds) h.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('drops a waiter whose signal aborts, without running its work', async () => {
    const gate = new FifoGate(1);
    const hold = deferred();
    const first = gate.run(() => hold.promise);
    const abort = new AbortController();
    let ran = false;
    const second = gate.run(async () => {
      ran = true;
    }, abort.signal);
    const third = gate.run(async () => 'third');
    abort.abort(new Error('timed out'));
    await expect(second).rejects.toThrow('timed out');
    expect(gate.waiting).toBe(1);
    hold.resolve();
    await first;
    expect(await third).toBe('third');
    expect(ran).toBe(false);
    // An already aborted signal is refused at once.
    await expect(gate.run(async () => 1, abort.signal)).rejects.toThrow('timed out');
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new FifoGate(0)).toThrow(/gate capacity must be a positive integer, got 0/);
  });
});
