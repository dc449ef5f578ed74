// jsdom lacks ResizeObserver, which recharts' ResponsiveContainer constructs; the charts under
// test get fixed sizes, so an observer that never fires is all they need.
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/react';

class NoopResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}

if (!('ResizeObserver' in globalThis)) {
  Object.defineProperty(globalThis, 'ResizeObserver', { value: NoopResizeObserver, configurable: true });
}

afterEach(() => {
  cleanup();
});
