/**
 * The swarm tasks' port blocks (allocatePortBlock), against real sockets on loopback.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { allocatePortBlock, type PortBlocks } from '../../../main/deploy/port-allocator.js';

const HOST = '127.0.0.1';
// Three blocks of 8 ports in a range no other test uses.
const BLOCKS: PortBlocks = { start: 9_600, size: 8, count: 3 };
const servers: net.Server[] = [];

function occupy(port: number): Promise<void> {
  const s = net.createServer();
  servers.push(s);
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host: HOST, port, exclusive: true }, () => resolve());
  });
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('allocatePortBlock', () => {
  it('gives the same key the same block, and skips claimed bases and blocks with a busy port', async () => {
    const first = await allocatePortBlock(HOST, BLOCKS, 4, 'ws/model', new Set());
    expect(first).not.toBeNull();
    expect([9_600, 9_608, 9_616]).toContain(first);
    expect(await allocatePortBlock(HOST, BLOCKS, 4, 'ws/model', new Set())).toBe(first);

    const claimed = new Set([first!]);
    const second = await allocatePortBlock(HOST, BLOCKS, 4, 'ws/model', claimed);
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);

    await occupy(second! + 3);
    const third = await allocatePortBlock(HOST, BLOCKS, 4, 'ws/model', claimed);
    expect([first, second]).not.toContain(third);
    expect(third).not.toBeNull();
  });

  it('answers null when every block is claimed or busy', async () => {
    await occupy(9_600 + 1);
    expect(await allocatePortBlock(HOST, BLOCKS, 4, 'k', new Set([9_608, 9_616]))).toBeNull();
  });
});
