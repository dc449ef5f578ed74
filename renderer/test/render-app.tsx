/** Renders a component with a fresh set of stores over a fake control plane. */
import { render, type RenderResult } from '@testing-library/react';
import type { ReactNode } from 'react';
import { createAppStores, StoresProvider, type AppStores } from '../src/stores/app-stores';
import type { FakeControlPlane } from './fake-control-plane';

export function renderWith(cp: FakeControlPlane, ui: ReactNode): RenderResult & { stores: AppStores } {
  const stores = createAppStores(cp, { metrics: { flushMs: 0 } });
  // A wrapper (not a parent element) so `rerender` keeps the provider.
  const result = render(ui, { wrapper: ({ children }) => <StoresProvider stores={stores}>{children}</StoresProvider> });
  return { ...result, stores };
}
