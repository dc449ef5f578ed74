/**
 * `frameworm shift …`: drift reference profiles and offline drift checks (issue 10).
 *
 * `shift profile --data` and `shift compare` run here in the CLI process on files; they need no
 * control plane. `shift profile --from-deployment` needs live samples from the agent, which has
 * no RPC for them yet, so it says so (E_USAGE) instead of pretending.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { FramewormError } from '../common/errors.js';
import { MODEL_TYPES, isModelType, type ModelType } from '../common/types.js';
import { loadDeployConfig } from '../config/deploy-config.js';
import type { FeatureSide } from '../drift/features/architectures.js';
import { compareData, profileFromData } from '../drift/profile/offline.js';
import { buildProfile, writeProfile } from '../drift/profile/shift-profile.js';
import type { GroupSamples } from '../drift/stats/types.js';
import { ensureAgent } from '../agent/agent-launcher.js';
import { renderDriftReport } from '../drift/report/html-report.js';
import fs from 'node:fs';
import { commonOf, withCommon } from './common-options.js';
import { makeOutput, table } from './output.js';

type Opts = Record<string, string | boolean | undefined>;

function str(opts: Opts, key: string): string | undefined {
  const v = opts[key];
  return typeof v === 'string' ? v : undefined;
}

function parseCount(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new FramewormError('E_USAGE', `${flag} must be an integer ${min}–${max} (got "${value}")`);
  return n;
}

function sideOf(opts: Opts): FeatureSide | undefined {
  const v = str(opts, 'group');
  return v === 'inputs' || v === 'outputs' ? v : undefined;
}

function fmt(v: number | null): string {
  if (v === null) return '-';
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2);
  return v.toFixed(4);
}

/** Registers the `shift` command group. */
export function registerShiftCommands(program: Command): void {
  const shift = program.command('shift').description('SHIFT drift monitoring: reference profiles and offline checks');

  withCommon(
    shift
      .command('profile')
      .description('write a drift reference profile (experiments/shift_profiles/<name>.json) from data or a deployment')
      .requiredOption('--name <profile>', 'profile name')
      .option('--data <file|dir>', '.npy, .npz, .csv, or a folder of PNG images')
      .addOption(new Option('--type <arch>', 'architecture the data belongs to (with --data)').choices([...MODEL_TYPES]))
      .addOption(new Option('--group <side>', 'what an unnamed array or image folder is: the model inputs or outputs (default: outputs for generators, inputs for vae/vqvae2)').choices(['inputs', 'outputs']))
      .option('--from-deployment <name>', "sample a deployment's recent traffic")
      .option('--samples <k>', 'with --from-deployment: how many samples')
      .option('--seed <n>', 'seed of the reservoir that picks the reference rows', '0')
      .option('--force', 'replace an existing profile of that name'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const data = str(opts, 'data');
    const deployment = str(opts, 'fromDeployment');
    if ((data === undefined) === (deployment === undefined)) throw new FramewormError('E_USAGE', 'give exactly one of --data FILE|DIR and --from-deployment NAME');
    if (deployment !== undefined) {
      const samplesOpt = str(opts, 'samples');
      const { config } = loadDeployConfig(common.workspace);
      const keep = samplesOpt !== undefined ? parseCount(samplesOpt, '--samples', 10, 100_000) : config.drift_reference_size;
      const view = await (await ensureAgent(common.workspace)).invoke('shift.samples', { name: deployment });
      const groups = (view.recent ?? []) as unknown as GroupSamples[];
      if (groups.length === 0 || view.type === null || !isModelType(view.type)) {
        throw new FramewormError('E_CONFLICT', `${deployment} has no sampled traffic yet (drift sampling starts with its first successful requests); send requests, or make the profile from data with --data`);
      }
      const profile = buildProfile({
        name: str(opts, 'name')!,
        architecture: view.type,
        side: 'outputs',
        source: { kind: 'deployment', name: deployment, samples: Math.max(0, ...groups.map((g) => g.rows.length)) },
        groups,
        referenceSize: keep,
        seed: parseCount(str(opts, 'seed') ?? '0', '--seed', 0, 2 ** 31 - 1),
      });
      const file = writeProfile(common.workspace, profile, opts['force'] === true);
      const rows = profile.groups.map((g) => ({ name: g.name, kind: g.kind, features: g.features, rows: g.rows.length, seen: g.seen }));
      makeOutput(common.json).result(
        { name: profile.name, path: file, architecture: profile.architecture, source: profile.source, reference_size: profile.reference_size, groups: rows },
        () => `wrote shift profile ${profile.name} (${path.relative(common.workspace, file)}) from ${deployment}'s recent traffic: ${rows.length} group(s), up to ${keep} rows each`,
      );
      return;
    }
    if (str(opts, 'samples') !== undefined) throw new FramewormError('E_USAGE', '--samples goes with --from-deployment, not --data');
    const type = str(opts, 'type');
    if (type === undefined || !isModelType(type)) throw new FramewormError('E_USAGE', `--data needs --type (one of ${MODEL_TYPES.join(', ')})`);
    const { config } = loadDeployConfig(common.workspace);
    const side = sideOf(opts);
    const { profile, file } = await profileFromData({
      workspace: common.workspace,
      name: str(opts, 'name')!,
      type,
      dataPath: path.resolve(data!),
      ...(side ? { side } : {}),
      referenceSize: config.drift_reference_size,
      seed: parseCount(str(opts, 'seed') ?? '0', '--seed', 0, 2 ** 31 - 1),
      overwrite: opts['force'] === true,
    });
    const groups = profile.groups.map((g) => ({ name: g.name, kind: g.kind, features: g.features, rows: g.rows.length, seen: g.seen }));
    makeOutput(common.json).result(
      { name: profile.name, path: file, architecture: profile.architecture, side: profile.side, reference_size: profile.reference_size, created_at: profile.created_at, groups },
      () =>
        [
          `wrote shift profile ${profile.name} (${path.relative(common.workspace, file)}): ${profile.architecture} ${profile.side}`,
          table(
            ['GROUP', 'KIND', 'FEATURES', 'ROWS KEPT', 'ROWS SEEN'],
            groups.map((g) => [g.name, g.kind, String(g.features.length), String(g.rows), String(g.seen)]),
          ),
        ].join('\n'),
    );
  });

  withCommon(
    shift
      .command('compare')
      .description('check a data file against a profile offline (same test as live monitoring); exit 0 drifted or not')
      .requiredOption('--profile <profile>', 'profile name')
      .requiredOption('--data <file|dir>', '.npy, .npz, .csv, or a folder of PNG images')
      .addOption(new Option('--group <side>', "what an unnamed array or image folder is (default: the profile's side)").choices(['inputs', 'outputs']))
      .addOption(new Option('--type <arch>', "architecture of the data; must be the profile's").choices([...MODEL_TYPES]))
      .option('--seed <n>', 'seed of the permutation test', '0'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const { config } = loadDeployConfig(common.workspace);
    const side = sideOf(opts);
    const type = str(opts, 'type') as ModelType | undefined;
    const { result, missing, extra } = await compareData({
      workspace: common.workspace,
      profile: str(opts, 'profile')!,
      dataPath: path.resolve(str(opts, 'data')!),
      ...(side ? { side } : {}),
      ...(type ? { type } : {}),
      alpha: config.drift_alpha,
      permutations: config.drift_permutations,
      seed: parseCount(str(opts, 'seed') ?? '0', '--seed', 0, 2 ** 31 - 1),
    });
    makeOutput(common.json).result({ ...result, profile_only_groups: missing, data_only_groups: extra }, () =>
      [
        `drifted: ${result.drifted ? 'yes' : 'no'} (severity ${result.severity}); reference ${result.window.reference} vs current ${result.window.current} rows; alpha ${result.alpha}`,
        table(
          ['GROUP', 'TEST', 'P', 'P ADJ', 'EFFECT', 'DRIFTED', 'SEVERITY', 'NOTE'],
          result.groups.map((g) => [g.name, g.test, fmt(g.p_value), fmt(g.p_adjusted), g.effect === null ? '-' : `${fmt(g.effect)} ${g.effect_name}`, g.drifted ? 'yes' : 'no', g.severity, g.skipped_reason ? `skipped: ${g.skipped_reason}` : '']),
        ),
      ].join('\n'),
    );
  });

  withCommon(shift.command('status').description("a deployment's live drift state: reference, window, last check").requiredOption('--name <name>')).action(
    async (opts: Opts) => {
      const common = commonOf(opts);
      const st = await (await ensureAgent(common.workspace)).invoke('shift.status', { name: str(opts, 'name') ?? '' });
      makeOutput(common.json).result(st, () => {
        const t = st.tracker;
        const head = !st.enabled
          ? `${st.name}: drift monitoring is off (drift_enabled: false)`
          : !t
            ? `${st.name}: no sampled traffic yet`
            : `${st.name}: reference ${t.reference_ready ? 'ready' : 'filling'} (${t.reference_rows} rows, ${t.reference_source}); window ${t.window_rows}/${t.window_size} rows; ${t.windows_checked} window(s) checked; ${st.sampled} sampled, ${st.dropped} dropped`;
        if (!st.last) return `${head}\n  no window checked yet`;
        const l = st.last;
        return [
          head,
          `  last check ${l.ts} on ${l.version}: ${l.drifted ? 'DRIFTED' : 'no drift'}, severity ${l.severity}, ${l.consecutive} drifted in a row (reference ${l.window.reference} vs current ${l.window.current} rows)`,
          table(
            ['GROUP', 'TEST', 'P', 'P ADJ', 'EFFECT', 'DRIFTED', 'SEVERITY'],
            l.groups.map((g) => [g.name, g.test, fmt(g.p_value), fmt(g.p_adjusted), fmt(g.effect), g.drifted ? 'yes' : g.skipped_reason ? `skipped: ${g.skipped_reason}` : 'no', g.severity]),
          ),
        ].join('\n');
      });
    },
  );

  withCommon(
    shift
      .command('report')
      .description('write a self-contained HTML report: reference vs current histograms per feature')
      .requiredOption('--name <name>')
      .requiredOption('--out <file.html>'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const name = str(opts, 'name') ?? '';
    const client = await ensureAgent(common.workspace);
    const [st, samples] = [await client.invoke('shift.status', { name }), await client.invoke('shift.samples', { name })];
    const out = path.resolve(str(opts, 'out') ?? '');
    const html = renderDriftReport({
      name,
      status: st,
      reference: (samples.reference ?? []) as unknown as GroupSamples[],
      current: (samples.current ?? []) as unknown as GroupSamples[],
    });
    fs.writeFileSync(out, html);
    makeOutput(common.json).result({ name, path: out, bytes: Buffer.byteLength(html) }, () => `wrote ${out}`);
  });
}
