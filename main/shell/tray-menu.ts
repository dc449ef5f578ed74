/**
 * The tray model (main/desktop/tray-model.ts) as Electron menu templates: a 1:1 mapping, every
 * click reported as the item's DesktopAction. Only types come from electron.
 */
import type { MenuItemConstructorOptions } from 'electron';
import { assertNever } from '../common/errors.js';
import type { DesktopAction } from '../desktop/desktop-actions.js';
import { encodeAction } from '../desktop/desktop-actions.js';
import type { TrayMenuItem } from '../desktop/tray-model.js';

/** The menu template for `items`; `onAction` gets the action of a clicked item. */
export function menuTemplate(items: readonly TrayMenuItem[], onAction: (action: DesktopAction) => void): MenuItemConstructorOptions[] {
  return items.map((item): MenuItemConstructorOptions => {
    switch (item.kind) {
      case 'action':
        return { id: encodeAction(item.action), label: item.label, enabled: item.enabled, click: () => onAction(item.action) };
      case 'label':
        return { label: item.label, enabled: false };
      case 'separator':
        return { type: 'separator' };
      case 'submenu':
        return { label: item.label, submenu: menuTemplate(item.items, onAction) };
      default:
        return assertNever(item);
    }
  });
}
