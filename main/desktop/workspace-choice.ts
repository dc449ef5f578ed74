/**
 * Which workspace the desktop app opens: the one it was started for (`frameworm ui` sets
 * FRAMEWORM_WORKSPACE), else the one opened last (remembered in the app's user-data folder),
 * else none — the shell then asks with the open-workspace dialog.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The remembered-workspace file inside a user-data folder. */
export function rememberedWorkspaceFile(userData: string): string {
  return path.join(userData, 'workspace.json');
}

/** The workspace to open at start, or null to ask. A remembered folder that is gone counts as none. */
export function startWorkspace(env: NodeJS.ProcessEnv, rememberedFile: string): string | null {
  const fromEnv = env['FRAMEWORM_WORKSPACE'];
  if (fromEnv) return path.resolve(fromEnv);
  try {
    const saved = (JSON.parse(fs.readFileSync(rememberedFile, 'utf8')) as { workspace?: unknown }).workspace;
    return typeof saved === 'string' && fs.statSync(saved).isDirectory() ? saved : null;
  } catch {
    return null;
  }
}

/** Remembers `workspace` for the next start. */
export function rememberWorkspace(rememberedFile: string, workspace: string): void {
  fs.mkdirSync(path.dirname(rememberedFile), { recursive: true });
  fs.writeFileSync(rememberedFile, `${JSON.stringify({ workspace: path.resolve(workspace) })}\n`);
}
