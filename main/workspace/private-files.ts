/**
 * Owner-only folders and files for what the control plane keeps in a workspace: the registry,
 * the event logs, the agent's token, record and log. They hold model names, lineage, paths and
 * secrets, so no other local user may read them (0700 folders, 0600 files, like the token).
 */
import fs from 'node:fs';

/** Mode of every folder the control plane creates. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file the control plane creates. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` (and missing parents) readable by the owner only.
 *
 * Folders created here get 0700 whatever the umask. With `tighten`, an existing `dir` that
 * others can read is narrowed to 0700 too: right for folders that are wholly ours (`.frameworm/`),
 * wrong for a folder the user pointed us at and may share on purpose, hence opt-in.
 */
export function makePrivateDir(dir: string, options: { readonly tighten?: boolean } = {}): void {
  const created = fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (created !== undefined) {
    // mkdir applies the umask to `mode`; a umask never adds bits, but chmod states the intent
    // for the leaf and costs nothing. Parents created on the way got the same mode from mkdir.
    fs.chmodSync(dir, PRIVATE_DIR_MODE);
  } else if (options.tighten) {
    narrow(dir, PRIVATE_DIR_MODE);
  }
}

/**
 * Opens `file` with `flags` ('a', 'w', 'r+' …), creating it as 0600, and narrows an existing
 * file that others can read to 0600. Returns the descriptor; the caller closes it.
 */
export function openPrivateFile(file: string, flags: string): number {
  const fd = fs.openSync(file, flags, PRIVATE_FILE_MODE);
  try {
    if ((fs.fstatSync(fd).mode & 0o077) !== 0) fs.fchmodSync(fd, PRIVATE_FILE_MODE);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * Makes sure `file` exists and is owner-only, without changing its content: for files another
 * library opens itself (SQLite creates its -wal and -shm files with the database file's mode).
 */
export function ensurePrivateFile(file: string): void {
  fs.closeSync(openPrivateFile(file, 'a'));
}

function narrow(target: string, mode: number): void {
  const stat = fs.statSync(target);
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(target, mode);
}
