/** Counts the requests a backend is serving, so that `drain()` can wait for the last one. */
export class InFlight {
  private active = 0;
  private waiters: (() => void)[] = [];

  get count(): number {
    return this.active;
  }

  /** Runs `work` as one request in flight; it is counted synchronously, before `work` starts. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await work();
    } finally {
      if (--this.active === 0) for (const wake of this.waiters.splice(0)) wake();
    }
  }

  /** Resolves once nothing is in flight. */
  drain(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
