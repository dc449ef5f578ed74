import crypto from 'node:crypto';
import net from 'node:net';

/** True when nothing listens on host:port right now (probe by binding and releasing). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * Picks the first free port at or above `start` that no other deployment has claimed.
 *
 * Ports are remembered per deployment name in the registry, so a name keeps its port across
 * versions, rollbacks and agent restarts; this only runs when a name has none yet.
 */
export async function allocatePort(host: string, start: number, claimed: ReadonlySet<number>, tries = 200): Promise<number> {
  for (let port = start; port < start + tries && port <= 65535; port++) {
    if (claimed.has(port)) continue;
    if (await portFree(host, port)) return port;
  }
  throw new Error(`no free port in ${start}–${Math.min(start + tries - 1, 65535)} on ${host}`);
}

/** Where port blocks for swarm tasks are searched: `count` blocks of `size` ports from `start`. */
export interface PortBlocks {
  readonly start: number;
  readonly size: number;
  readonly count: number;
}

/**
 * A block base for `width` ports (base + 1 … base + width), none of whose ports is free-checked
 * as taken now and whose base is not in `claimed`. The search starts at a block derived from
 * `key` (so the same key usually gets the same block back) and wraps around; null when every
 * block is claimed or busy.
 */
export async function allocatePortBlock(host: string, blocks: PortBlocks, width: number, key: string, claimed: ReadonlySet<number>): Promise<number | null> {
  const first = crypto.createHash('sha256').update(key).digest().readUInt32BE(0) % blocks.count;
  for (let i = 0; i < blocks.count; i++) {
    const base = blocks.start + ((first + i) % blocks.count) * blocks.size;
    if (claimed.has(base)) continue;
    let free = true;
    for (let p = base + 1; p <= base + width && free; p++) free = await portFree(host, p);
    if (free) return base;
  }
  return null;
}
