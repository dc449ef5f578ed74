import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng } from '../../../main/sampling/png.js';
import { cliJson, makeWorkspace, runCli } from '../cli/cli-harness.js';

// `shift profile` / `shift compare` run in the CLI process (no agent), so no port is used; the
// workspace still gets a range of its own in case a later command starts one.
const PORT_BASE = 47_310;

interface CompareJson {
  drifted: boolean;
  severity: string;
  window: { reference: number; current: number };
  groups: { name: string; test: string; p_value: number | null; p_adjusted: number | null; effect: number | null; drifted: boolean; severity: string; skipped_reason?: string }[];
}

let ws: string;
const data = (name: string): string => path.join(ws, 'data', name);
const profileFile = (name: string): string => path.join(ws, 'experiments/shift_profiles', `${name}.json`);

beforeAll(() => {
  ws = makeWorkspace(PORT_BASE);
  fs.mkdirSync(path.join(ws, 'data'));
  execFileSync('/usr/bin/python3', [
    '-c',
    `import numpy as np
import os
os.chdir(${JSON.stringify(path.join(ws, 'data'))})
r = np.random.default_rng(2024)
np.save('ref.npy', r.standard_normal((1000, 16)).astype(np.float32))
np.save('same.npy', r.standard_normal((200, 16)).astype(np.float32))
np.save('shifted.npy', (r.standard_normal((200, 16)) + 1.0).astype(np.float32))
np.save('wide.npy', r.standard_normal((200, 8)).astype(np.float32))
bad = r.standard_normal((50, 16)).astype(np.float32); bad[7, 3] = np.nan
np.save('nan.npy', bad)
np.save('images3.npy', np.tanh(r.standard_normal((60, 3, 8, 8))).astype(np.float32))
np.save('images1.npy', np.tanh(r.standard_normal((60, 1, 8, 8))).astype(np.float32))
`,
  ]);
  fs.mkdirSync(data('pngs'));
  for (let i = 0; i < 30; i++) {
    const pixels = Array.from({ length: 3 * 8 * 8 }, (_, k) => ((k * 7 + i * 13) % 17) / 16);
    fs.writeFileSync(data(`pngs/img${String(i).padStart(2, '0')}.png`), encodePng(pixels, 0, 3, 8, 8, '[0,1]'));
  }
  fs.mkdirSync(data('no-images'));
});

afterAll(() => {
  fs.rmSync(ws, { recursive: true, force: true });
});

describe('frameworm shift profile / compare', () => {
  it('profiles 16-d N(0,1) latents as the z input group with a capped raw reservoir', async () => {
    const out = await cliJson<{ name: string; architecture: string; side: string; groups: { name: string; kind: string; features: string[]; rows: number; seen: number }[] }>(ws, [
      'shift', 'profile', '--name', 'latents', '--data', data('ref.npy'), '--type', 'dcgan',
    ]);
    expect(out).toMatchObject({ name: 'latents', architecture: 'dcgan', side: 'inputs' });
    expect(out.groups.map((g) => [g.name, g.kind, g.rows, g.seen])).toEqual([
      ['inputs.z', 'numeric', 200, 1000],
      ['inputs.z_norm', 'scalar', 200, 1000],
    ]);
    const saved = JSON.parse(fs.readFileSync(profileFile('latents'), 'utf8')) as { schema_version: number; groups: { features: string[]; rows: number[][] }[] };
    expect(saved.schema_version).toBe(1);
    expect(saved.groups[0]!.features).toEqual(Array.from({ length: 16 }, (_, j) => `z_${j}`));
    expect(saved.groups[0]!.rows).toHaveLength(200);
    expect(saved.groups[0]!.rows[0]).toHaveLength(16);
  });

  it('same-distribution data is not drifted; a +1σ shift is, exit 0 both ways', async () => {
    const same = await cliJson<CompareJson>(ws, ['shift', 'compare', '--profile', 'latents', '--data', data('same.npy')]);
    expect(same.drifted).toBe(false);
    expect(same.severity).toBe('NONE');
    expect(same.window).toEqual({ reference: 200, current: 200 });
    expect(same.groups.map((g) => g.name)).toEqual(['inputs.z', 'inputs.z_norm']);
    for (const g of same.groups) expect(Object.keys(g)).toEqual(expect.arrayContaining(['name', 'test', 'p_value', 'p_adjusted', 'effect', 'drifted', 'severity']));

    const shifted = await runCli(ws, ['shift', 'compare', '--profile', 'latents', '--data', data('shifted.npy'), '--json']);
    expect(shifted.code).toBe(0);
    const verdict = JSON.parse(shifted.stdout) as CompareJson;
    expect(verdict.drifted).toBe(true);
    expect(verdict.groups.find((g) => g.name === 'inputs.z')).toMatchObject({ test: 'mmd', drifted: true });
    expect(verdict.groups.find((g) => g.name === 'inputs.z_norm')).toMatchObject({ test: 'ks', drifted: true });

    const human = await runCli(ws, ['shift', 'compare', '--profile', 'latents', '--data', data('shifted.npy')]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^drifted: yes \(severity (LOW|MEDIUM|HIGH)\)/);
    expect(human.stdout).toMatch(/GROUP\s+TEST\s+P\s+P ADJ\s+EFFECT\s+DRIFTED\s+SEVERITY/);
  });

  it('profiles a folder of PNGs as VAE input images by default, and compares it', async () => {
    const out = await cliJson<{ side: string; groups: { name: string }[] }>(ws, ['shift', 'profile', '--name', 'faces', '--data', data('pngs'), '--type', 'vae']);
    expect(out.side).toBe('inputs');
    expect(out.groups.map((g) => g.name)).toEqual(['inputs.x']);
    const verdict = await cliJson<CompareJson>(ws, ['shift', 'compare', '--profile', 'faces', '--data', data('pngs')]);
    expect(verdict.drifted).toBe(false);
  });

  it('profiles generator output images with statistics, embedding and NaN count', async () => {
    const out = await cliJson<{ side: string; groups: { name: string; features: string[] }[] }>(ws, ['shift', 'profile', '--name', 'gan-out', '--data', data('images3.npy'), '--type', 'dcgan']);
    expect(out.side).toBe('outputs');
    expect(out.groups.map((g) => [g.name, g.features.length])).toEqual([
      ['outputs.images', 10],
      ['outputs.images.embedding', 24],
      ['outputs.images.nonfinite', 1],
    ]);
    const verdict = await cliJson<CompareJson>(ws, ['shift', 'compare', '--profile', 'gan-out', '--data', data('images3.npy')]);
    expect(verdict.groups.find((g) => g.name === 'outputs.images.nonfinite')?.skipped_reason).toMatch(/constant/);
  });

  it('names the mismatch: architecture, feature names, groups, schema version, corrupt file', async () => {
    const arch = await runCli(ws, ['shift', 'compare', '--profile', 'latents', '--data', data('same.npy'), '--type', 'vitgan']);
    expect(arch.code).toBe(4);
    expect(arch.stderr).toMatch(/shift profile latents is for dcgan models, not vitgan/);

    const width = await runCli(ws, ['shift', 'compare', '--profile', 'latents', '--data', data('wide.npy')]);
    expect(width.code).toBe(4);
    expect(width.stderr).toMatch(/feature group inputs\.z has 16 features in shift profile latents but 8 in data/);

    const channels = await runCli(ws, ['shift', 'compare', '--profile', 'gan-out', '--data', data('images1.npy')]);
    expect(channels.code).toBe(4);
    expect(channels.stderr).toMatch(/feature group outputs\.images has 10 features .* but 6/);

    const groups = await runCli(ws, ['shift', 'compare', '--profile', 'latents', '--data', data('images3.npy')]);
    expect(groups.code).toBe(4);
    expect(groups.stderr).toMatch(/gives feature groups \[outputs\.images.*\] but shift profile latents has \[inputs\.z, inputs\.z_norm\]/);

    const profile = JSON.parse(fs.readFileSync(profileFile('latents'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(profileFile('future'), JSON.stringify({ ...profile, name: 'future', schema_version: 2 }));
    const version = await runCli(ws, ['shift', 'compare', '--profile', 'future', '--data', data('same.npy')]);
    expect(version.code).toBe(4);
    expect(version.stderr).toMatch(/schema version 2; this build reads version 1/);

    fs.writeFileSync(profileFile('broken'), '{"schema_version": 1, "groups": [');
    const corrupt = await runCli(ws, ['shift', 'compare', '--profile', 'broken', '--data', data('same.npy')]);
    expect(corrupt.code).toBe(4);
    expect(corrupt.stderr).toMatch(/shift profile broken .* is corrupt: not valid JSON/);

    fs.writeFileSync(profileFile('wrong-arch'), JSON.stringify({ ...profile, name: 'wrong-arch', architecture: 'stylegan' }));
    const invalid = await runCli(ws, ['shift', 'compare', '--profile', 'wrong-arch', '--data', data('same.npy')]);
    expect(invalid.code).toBe(4);
    expect(invalid.stderr).toMatch(/is corrupt: architecture/);

    const missing = await runCli(ws, ['shift', 'compare', '--profile', 'nope', '--data', data('same.npy')]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(/no shift profile named nope/);
  });

  it('bad data is a clear E_INPUT and writes nothing', async () => {
    const cases: [string, RegExp][] = [
      [data('nan.npy'), /NaN at sample 7/],
      [data('no-images'), /has no \.png images/],
      [data('absent.npy'), /does not exist/],
    ];
    for (const [file, why] of cases) {
      const r = await runCli(ws, ['shift', 'profile', '--name', 'bad', '--data', file, '--type', 'dcgan']);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(why);
      expect(fs.existsSync(profileFile('bad'))).toBe(false);
    }
  });

  it('usage: an unknown deployment, one source is required, no silent overwrite', async () => {
    const live = await runCli(ws, ['shift', 'profile', '--name', 'live', '--from-deployment', 'svc', '--samples', '200']);
    expect(live.code).toBe(5);
    expect(live.stderr).toMatch(/svc/);
    const badSamples = await runCli(ws, ['shift', 'profile', '--name', 'live', '--from-deployment', 'svc', '--samples', '3']);
    expect(badSamples.code).toBe(2);
    const neither = await runCli(ws, ['shift', 'profile', '--name', 'x']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/exactly one of --data/);
    const noType = await runCli(ws, ['shift', 'profile', '--name', 'x', '--data', data('ref.npy')]);
    expect(noType.code).toBe(2);
    expect(noType.stderr).toMatch(/--data needs --type/);
    const badName = await runCli(ws, ['shift', 'profile', '--name', '../escape', '--data', data('ref.npy'), '--type', 'dcgan']);
    expect(badName.code).toBe(2);
    const before = fs.readFileSync(profileFile('latents'), 'utf8');
    const again = await runCli(ws, ['shift', 'profile', '--name', 'latents', '--data', data('same.npy'), '--type', 'dcgan']);
    expect(again.code).toBe(6);
    expect(again.stderr).toMatch(/already exists.*--force/);
    expect(fs.readFileSync(profileFile('latents'), 'utf8')).toBe(before);
  });

  it('takes the reference size, alpha and permutations from the config, and validates them', async () => {
    const small = makeWorkspace(PORT_BASE + 10, '  drift_reference_size: 50\n  drift_permutations: 99\n  drift_alpha: 0.01\n');
    try {
      const out = await cliJson<{ reference_size: number; groups: { rows: number }[] }>(small, ['shift', 'profile', '--name', 'p', '--data', data('ref.npy'), '--type', 'dcgan']);
      expect(out.reference_size).toBe(50);
      expect(out.groups.map((g) => g.rows)).toEqual([50, 50]);
      const verdict = await cliJson<CompareJson & { alpha: number; groups: { permutations?: number }[] }>(small, ['shift', 'compare', '--profile', 'p', '--data', data('same.npy')]);
      expect(verdict.alpha).toBe(0.01);
      expect(verdict.groups[0]!.permutations).toBe(99);
    } finally {
      fs.rmSync(small, { recursive: true, force: true });
    }
    const bad = makeWorkspace(PORT_BASE + 20, '  drift_alpha: 2\n  drift_sample_rate: 1.5\n');
    try {
      const r = await runCli(bad, ['shift', 'compare', '--profile', 'p', '--data', data('same.npy')]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/deploy\.drift_sample_rate must be a number from 0 to 1 .*got 1\.5/);
      expect(r.stderr).toMatch(/deploy\.drift_alpha must be a number > 0 and at most 0\.5 \(got 2\)/);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });
});
