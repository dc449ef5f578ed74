/**
 * The live drift monitor with its real worker thread and a real registry: every sample the
 * worker handles is accounted for, so sampling never stalls however long the traffic runs, and
 * windows keep being checked and recorded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDeployConfig } from '../../../main/config/deploy-config.js';
import { DriftMonitor } from '../../../main/drift/live/drift-monitor.js';
import { EventLog } from '../../../main/events/event-log.js';
import { Registry } from '../../../main/registry/registry.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function image(seed: number): number[][][] {
  return [0, 1, 2].map((c) => Array.from({ length: 4 }, (_, y) => Array.from({ length: 4 }, (_, x) => Math.sin(seed * 7 + c * 3 + y * 5 + x) * 0.5)));
}

describe('DriftMonitor', () => {
  it('keeps sampling past its queue bound: 300 samples (beyond the 256 it queues) give a reference and 29 checked windows', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-drift-monitor-'));
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs/deploy_config.yaml'), 'deploy:\n  drift_window: 10\n  drift_reference_size: 10\n  drift_permutations: 20\n');
    const { config } = loadDeployConfig(dir);
    const registry = new Registry(path.join(dir, 'registry.db'), new EventLog(path.join(dir, 'logs')));
    registry.registerVersion({ name: 'g', type: 'dcgan', target: 'embedded', lineage: { hyper_parameters: { latent_dim: 4 } } });
    const monitor = new DriftMonitor({ registry, workspaceRoot: dir, settings: () => config, maxSamplesPerS: 1e9, maxSampleBytesPerS: 1e12, log: () => {} });
    try {
      for (let i = 0; i < 300; i++) {
        monitor.offer('g', { version: 'v1', request: { z: [[i % 3, 1, 2, 3]] }, response: JSON.stringify({ images: [image(i)] }) });
        // Let the worker catch up now and then (a status is answered after the queued samples).
        if (i % 50 === 49) await monitor.status('g');
      }
      const deadline = Date.now() + 150_000;
      let st = await monitor.status('g');
      while ((st.tracker?.windows_checked ?? 0) < 29 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        st = await monitor.status('g');
      }
      expect(st.sampled).toBe(300);
      expect(st.dropped).toBe(0);
      expect(st.tracker).toMatchObject({ reference_ready: true, reference_rows: 10, windows_checked: 29 });
      expect(registry.listEvents('g', 1000).filter((e) => e.event === 'drift_check')).toHaveLength(29);
    } finally {
      await monitor.dispose();
      registry.close();
    }
  }, 180_000);
});
