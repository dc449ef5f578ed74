/** Whether a process is alive, for lock files and agent records. */
import fs from 'node:fs';

/**
 * True when a process with this pid exists (signal 0 probes without touching it) and is not a
 * zombie: a killed agent whose parent never reaps it (containers without an init) is dead.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S …"; comm may hold spaces and parentheses, the state follows the last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (err) {
    // Gone between the two probes, or no procfs (macOS, Windows): signal 0 is all there is.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync('/proc/self/stat');
  }
}
