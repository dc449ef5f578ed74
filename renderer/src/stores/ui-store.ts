/**
 * Presentation state that no other store owns: theme, the main view, the open lineage drawer and
 * the versions picked for comparison. The theme is remembered across reloads.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';

export type Theme = 'dark' | 'light';
export type View = 'model' | 'import' | 'settings';

export interface UiState {
  readonly theme: Theme;
  readonly view: View;
  /** Version whose lineage drawer is open. */
  readonly drawerVersion: string | null;
  setTheme(theme: Theme): void;
  toggleTheme(): void;
  setView(view: View): void;
  openDrawer(version: string | null): void;
}

export type UiStore = StoreApi<UiState>;

const THEME_KEY = 'frameworm.theme';

function initialTheme(storage: Storage | null, prefersDark: boolean): Theme {
  const saved = storage?.getItem(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return prefersDark ? 'dark' : 'light';
}

/** Creates the UI store; `storage` is where the theme is kept (null: not kept). */
export function createUiStore(storage: Storage | null = null, prefersDark = false): UiStore {
  return createStore<UiState>()((set, get) => ({
    theme: initialTheme(storage, prefersDark),
    view: 'model',
    drawerVersion: null,
    setTheme(theme) {
      storage?.setItem(THEME_KEY, theme);
      set({ theme });
    },
    toggleTheme() {
      get().setTheme(get().theme === 'dark' ? 'light' : 'dark');
    },
    setView(view) {
      set({ view });
    },
    openDrawer(version) {
      set({ drawerVersion: version });
    },
  }));
}
