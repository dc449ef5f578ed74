/**
 * The TypeScript samplers against the Python reference (templates/frameworm/diffusion_reference.py,
 * torch float32), end to end: Python draws x_T and the per-step noise with frameworm.noise using
 * the documented streams (0 for x_T, k + 1 for iteration k), runs the reference with a synthetic
 * ε-network, and the TypeScript sampler must reproduce the images bit for bit.
 *
 * Skipped where torch is not installed (the reference needs it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sampleCfg, sampleDdpm, type EpsNetwork, type ImageShape } from '../../../main/sampling/diffusion-sampler.js';
import { requirePython, runPython } from './python.js';
import { cfgSchedule, ddpmSchedule } from './schedules.js';

const python = requirePython(['numpy', 'torch', 'frameworm.noise', 'frameworm.diffusion_reference']);
const T = 50;
const NUM_CLASSES = 4;
const SHAPE: ImageShape = [3, 2, 4, 4];

// ε = x/8 + label/32 + t/1024: power-of-two scales make every product exact, so float32
// rounding happens only in the two additions, in torch's left-to-right order.
const SCRIPT = `
import json, sys
import torch
from frameworm import noise
from frameworm.diffusion_reference import cfg_sample, ddpm_sample, strided_timesteps

torch.set_num_threads(1)

def column(v):
    return v.to(torch.float32).view(-1, 1, 1, 1)

class Synthetic(torch.nn.Module):
    def forward(self, x, t, labels=None):
        lab = torch.zeros_like(t) if labels is None else labels
        return 0.125 * x + 0.03125 * column(lab) + 0.0009765625 * column(t)

model = Synthetic()
for spec in json.load(open(sys.argv[1])):
    shape = spec["shape"]
    size = shape[0] * shape[1] * shape[2] * shape[3]
    x_T = torch.from_numpy(noise.normals(spec["seed"], noise.INITIAL_NOISE_STREAM, size)).reshape(shape)
    steps = len(strided_timesteps(len(spec["schedule"]["betas"]), spec["num_steps"]))
    noises = [torch.from_numpy(noise.normals(spec["seed"], noise.step_noise_stream(k), size))
              .reshape(shape) for k in range(steps - 1)]
    if spec["kind"] == "ddpm":
        out = ddpm_sample(model, spec["schedule"], x_T, noises, spec["num_steps"], clamp=spec["clamp"])
    else:
        out = cfg_sample(model, spec["schedule"], x_T, noises, spec["labels"], spec["w"],
                         spec["num_steps"], null_class_index=spec["num_classes"], clamp=spec["clamp"])
    sys.stdout.buffer.write(out.to(torch.float32).contiguous().numpy().astype("<f4").tobytes())
`;

const f = Math.fround;
const torchLikeEps: EpsNetwork = (x, dims, t, labels) => {
  const per = dims[1] * dims[2] * dims[3];
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = Math.floor(i / per);
    const label = labels ? Number(labels[b]) : 0;
    out[i] = f(f((x[i] as number) * 0.125 + label * 0.03125) + Number(t[b]) * 0.0009765625);
  }
  return Promise.resolve(out);
};

/** Runs every spec in one Python process (torch takes seconds to import) and splits the output. */
function runReference(specs: readonly Record<string, unknown>[], sizes: readonly number[]): Float32Array[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frameworm-sampler-'));
  try {
    const file = path.join(dir, 'specs.json');
    fs.writeFileSync(file, JSON.stringify(specs));
    const bytes = runPython(python, SCRIPT, [file]);
    const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    expect(all.length).toBe(sizes.reduce((a, b) => a + b, 0));
    let offset = 0;
    return sizes.map((n) => all.slice(offset, (offset += n)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function compare(ts: Float32Array, py: Float32Array): { mismatches: number; maxAbsDiff: number } {
  expect(py.length).toBe(ts.length);
  let mismatches = 0;
  let maxAbsDiff = 0;
  for (let i = 0; i < ts.length; i++) {
    if (Object.is(ts[i], py[i])) continue;
    mismatches++;
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs((ts[i] as number) - (py[i] as number)));
  }
  return { mismatches, maxAbsDiff };
}

const plain = (s: Record<string, Float32Array>): Record<string, number[]> => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, [...v]]));

const ddpm = ddpmSchedule(T);
const cfg = cfgSchedule(T);
const SIZE = SHAPE[0] * SHAPE[1] * SHAPE[2] * SHAPE[3];

const DDPM_CASES = [T, 12, 2, 1].flatMap((numSteps) => [false, true].map((clamp) => ({ numSteps, clamp })));
const CFG_CASES: { numSteps: number; labels: (number | null)[]; w: number }[] = [
  { numSteps: T, labels: [0, 3, null], w: 3 },
  { numSteps: 9, labels: [0, 3, null], w: 3 },
  { numSteps: 9, labels: [1, 2, 0], w: 0.5 },
  { numSteps: 9, labels: [1, null, 2], w: -2 },
  { numSteps: 9, labels: [null, null, null], w: 4 },
  { numSteps: 1, labels: [2, 2, null], w: 7.5 },
];

describe('samplers = Python reference (torch), bit for bit', () => {
  let ddpmRef: Float32Array[] = [];
  let cfgRef: Float32Array[] = [];
  beforeAll(() => {
    const specs = [
      ...DDPM_CASES.map(({ numSteps, clamp }) => ({ kind: 'ddpm', schedule: plain(ddpm), shape: SHAPE, num_steps: numSteps, seed: 1234, clamp })),
      ...CFG_CASES.map(({ numSteps, labels, w }) => ({
        kind: 'cfg', schedule: plain(cfg), shape: SHAPE, num_steps: numSteps, seed: 99, clamp: false, labels, w, num_classes: NUM_CLASSES,
      })),
    ];
    const out = runReference(specs, specs.map(() => SIZE));
    ddpmRef = out.slice(0, DDPM_CASES.length);
    cfgRef = out.slice(DDPM_CASES.length);
  });

  DDPM_CASES.forEach(({ numSteps, clamp }, k) => {
    it(`DDPM, ${numSteps} of ${T} steps, clamp ${clamp}`, async () => {
      const ts = await sampleDdpm({ eps: torchLikeEps, schedule: ddpm, shape: SHAPE, numSteps, seed: 1234, clamp });
      expect(compare(ts.images, ddpmRef[k] as Float32Array)).toEqual({ mismatches: 0, maxAbsDiff: 0 });
    });
  });

  CFG_CASES.forEach(({ numSteps, labels, w }, k) => {
    it(`CFG, ${numSteps} of ${T} steps, labels ${JSON.stringify(labels)}, w ${w}`, async () => {
      const ts = await sampleCfg({
        eps: torchLikeEps, schedule: cfg, shape: SHAPE, numSteps, seed: 99, clamp: false, classLabels: labels, numClasses: NUM_CLASSES, guidanceScale: w,
      });
      expect(compare(ts.images, cfgRef[k] as Float32Array)).toEqual({ mismatches: 0, maxAbsDiff: 0 });
    });
  });
});
