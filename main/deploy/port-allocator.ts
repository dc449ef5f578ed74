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
