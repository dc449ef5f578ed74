/**
 * Live drift monitoring end to end, through the real CLI and agent with the demo DCGAN on the
 * embedded runtime: the reference from the first sampled rows, tumbling windows as drift_check
 * events, shifted inputs → drift (and its alert), profiles from a deployment, `--shift` at deploy
 * start (and its refusals), the HTML report, and rollback_on_drift.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployStartResult, EventView, ShiftStatusView } from '../../../preload/contract.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, repoRoot, runCli } from '../cli/cli-harness.js';

const PORT_BASE = 44600;
const MODEL = path.join(repoRoot, 'examples/models/demo-dcgan/model.onnx');
const LATENT = 32;
let ws: string;
let endpoint: string;

/** Deterministic normals (Box–Muller over a linear congruential sequence). */
function normals(seed: number, n: number, shift: number): number[] {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  const out: number[] = [];
  while (out.length < n) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out.push(r * Math.cos(t) + shift, r * Math.sin(t) + shift);
  }
  return out.slice(0, n);
}

function zBatch(seed: number, shift: number): number[][] {
  const flat = normals(seed, 16 * LATENT, shift);
  return Array.from({ length: 16 }, (_, i) => flat.slice(i * LATENT, (i + 1) * LATENT));
}

async function send(url: string, first: number, count: number, shift: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    // PNG answers stay small, so every request fits the sampler's per-second byte budget.
    const r = await postJson(`${url}/predict`, { z: zBatch(first + i, shift), output_format: 'png' });
    expect(r.status).toBe(200);
  }
}

async function events(name: string): Promise<EventView[]> {
  const r = await runCli(ws, ['deploy', 'events', '--name', name, '--json', '--limit', '500']);
  expect(r.code).toBe(0);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EventView);
}

async function until<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  ws = makeWorkspace(PORT_BASE, '  drift_window: 64\n  drift_reference_size: 64\n  drift_permutations: 200\n  drift_max_samples_per_s: 1000\n  monitor_interval_s: 3600\n');
  const doc = await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', MODEL, '--name', 'gan']);
  endpoint = doc.endpoint ?? '';
});

afterAll(async () => {
  await disposeWorkspace(ws);
});

describe('live drift on the embedded runtime', () => {
  it('builds the reference from the first sampled rows and checks tumbling windows', async () => {
    await send(endpoint, 1, 4 + 8, 0); // 64 reference rows, then two 64-row windows
    const st = await until('two windows', async () => {
      const s = await cliJson<ShiftStatusView>(ws, ['shift', 'status', '--name', 'gan']);
      return (s.tracker?.windows_checked ?? 0) >= 2 ? s : null;
    });
    expect(st.tracker).toMatchObject({ reference_source: 'traffic', reference_rows: 64, reference_ready: true, window_size: 64 });
    expect(st.last?.window).toEqual({ reference: 64, current: 64 });
    expect(st.last?.drifted).toBe(false);
    const checks = (await events('gan')).filter((e) => e.event === 'drift_check');
    expect(checks).toHaveLength(2);
    expect(checks[0]).toMatchObject({ version: 'v1', drifted: false, consecutive: 0, reference_source: 'traffic' });
    const groups = (checks[0]?.['groups'] as { name: string }[]).map((g) => g.name);
    expect(groups).toEqual(expect.arrayContaining(['inputs.z', 'outputs.images', 'outputs.images.embedding']));
    expect((await events('gan')).some((e) => e.event === 'drift_reference')).toBe(true);
  });

  it('flags shifted inputs and outputs, and two drifted windows in a row are a drift event with an alert', async () => {
    await send(endpoint, 100, 8, 1.5);
    const drift = await until('a drift event', async () => (await events('gan')).find((e) => e.event === 'drift') ?? null);
    expect(drift).toMatchObject({ version: 'v1', consecutive: 2 });
    expect(drift['groups']).toEqual(expect.arrayContaining(['inputs.z']));
    const checks = (await events('gan')).filter((e) => e.event === 'drift_check').slice(-2);
    expect(checks.map((c) => c['drifted'])).toEqual([true, true]);
    await until('the drift alert', async () => (await events('gan')).some((e) => e.event === 'alert' && e['about_event'] === 'drift' && e['channel'] === 'log'));
    const status = await cliJson<{ drift: { drifted: boolean; severity: string } | null }>(ws, ['deploy', 'status', '--name', 'gan']);
    expect(status.drift).toMatchObject({ drifted: true });
  });

  it('writes a self-contained HTML report with histograms', async () => {
    const out = path.join(ws, 'report.html');
    expect((await runCli(ws, ['shift', 'report', '--name', 'gan', '--out', out])).code).toBe(0);
    const html = fs.readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).toContain('inputs.z');
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('makes a profile from the deployment and attaches it with --shift; refuses missing and mismatched profiles', async () => {
    const made = await runCli(ws, ['shift', 'profile', '--name', 'live', '--from-deployment', 'gan', '--json']);
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ name: 'live', architecture: 'dcgan', source: { kind: 'deployment', name: 'gan' } });
    expect(fs.existsSync(path.join(ws, 'experiments/shift_profiles/live.json'))).toBe(true);

    const doc = await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', MODEL, '--name', 'gan2', '--shift', 'live']);
    await send(doc.endpoint ?? '', 500, 1, 0);
    const st = await until('the profile reference', async () => {
      const s = await cliJson<ShiftStatusView>(ws, ['shift', 'status', '--name', 'gan2']);
      return s.tracker ? s : null;
    });
    expect(st.tracker).toMatchObject({ reference_source: 'profile:live', reference_ready: true });

    const missing = await runCli(ws, ['deploy', 'start', '--model', MODEL, '--name', 'gan3', '--shift', 'nope']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(/nope/);
    // A profile of another architecture: made from latents for a ViT-GAN.
    const npy = path.join(ws, 'z.npy');
    execFileSync('/usr/bin/python3', ['-c', `import numpy as np; np.save(${JSON.stringify(npy)}, np.random.default_rng(0).standard_normal((100, ${LATENT})).astype('float32'))`]);
    expect((await runCli(ws, ['shift', 'profile', '--name', 'vit', '--data', npy, '--type', 'vitgan'])).code).toBe(0);
    const other = await runCli(ws, ['deploy', 'start', '--model', MODEL, '--name', 'gan3', '--shift', 'vit']);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/vitgan/);
    expect((await runCli(ws, ['deploy', 'status', '--name', 'gan3'])).code).toBe(5);
  });
});

describe('rollback_on_drift', () => {
  it('rolls back to the previous version after two drifted windows when enabled', async () => {
    const ws2 = makeWorkspace(PORT_BASE + 20, '  drift_window: 64\n  drift_reference_size: 64\n  drift_permutations: 200\n  drift_max_samples_per_s: 1000\n  monitor_interval_s: 3600\n  rollback_on_drift: true\n  cooldown_s: 0\n');
    try {
      await cliJson(ws2, ['deploy', 'start', '--model', MODEL, '--name', 'gan']);
      const v2 = await cliJson<DeployStartResult>(ws2, ['deploy', 'start', '--model', MODEL, '--name', 'gan']);
      await send(v2.endpoint ?? '', 1, 4, 0);
      await send(v2.endpoint ?? '', 200, 8, 2);
      const rollback = await until('the drift rollback', async () => {
        const r = await runCli(ws2, ['deploy', 'events', '--name', 'gan', '--json', '--limit', '500']);
        const found = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EventView).find((e) => e.event === 'rollback');
        return found ?? null;
      });
      expect(rollback).toMatchObject({ from_version: 'v2', to_version: 'v1', success: true, actor: 'watcher' });
      expect(String(rollback['reason'])).toMatch(/drifted windows/);
      const st = await cliJson<{ production: string }>(ws2, ['deploy', 'status', '--name', 'gan']);
      expect(st.production).toBe('v1');
    } finally {
      await disposeWorkspace(ws2);
    }
  });
});
