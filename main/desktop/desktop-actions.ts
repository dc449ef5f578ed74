/**
 * What a click in the desktop shell asks for: a tray menu item or a notification names one of
 * these actions, and the shell maps each to Electron calls in one exhaustive switch. Actions
 * travel as strings (a notification's action id, a menu item's id), so they are encoded here.
 */
import { assertNever } from '../common/errors.js';
import type { QuitMode } from '../agent/host.js';

/** One thing the user can ask the desktop shell to do. */
export type DesktopAction =
  | { readonly type: 'open' }
  | { readonly type: 'open_model'; readonly name: string }
  | { readonly type: 'rollback'; readonly name: string }
  | { readonly type: 'open_workspace' }
  | { readonly type: 'quit'; readonly mode: QuitMode };

/** The action as one string (a menu item id, a notification's action id). */
export function encodeAction(action: DesktopAction): string {
  switch (action.type) {
    case 'open':
    case 'open_workspace':
      return action.type;
    case 'open_model':
    case 'rollback':
      return `${action.type}:${action.name}`;
    case 'quit':
      return `quit:${action.mode}`;
    default:
      return assertNever(action);
  }
}

/** The action an id stands for, or null for an id this version does not know. */
export function decodeAction(id: string): DesktopAction | null {
  if (id === 'open' || id === 'open_workspace') return { type: id };
  const colon = id.indexOf(':');
  if (colon < 0) return null;
  const kind = id.slice(0, colon);
  const rest = id.slice(colon + 1);
  if (kind === 'quit') return rest === 'hand_over' || rest === 'stop_everything' ? { type: 'quit', mode: rest } : null;
  if ((kind === 'open_model' || kind === 'rollback') && rest !== '') return { type: kind, name: rest };
  return null;
}
