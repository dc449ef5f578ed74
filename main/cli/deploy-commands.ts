import { Command, Option } from 'commander';
import path from 'node:path';
import type { DeployStartArgs, DeploymentStatus, DeploymentSummary, EventView, ModelTypeName, TargetName } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import { MODEL_TYPES, TARGETS } from '../common/types.js';
import { ensureAgent } from '../agent/agent-launcher.js';
import { formatInspection, inspectModelFile } from '../inspect/inspect.js';
import { commonOf, withCommon } from './common-options.js';
import { invokeChange } from './committed-change.js';
import { makeOutput, table } from './output.js';

type Opts = Record<string, string | boolean | undefined>;

function str(opts: Opts, key: string): string | undefined {
  const v = opts[key];
  return typeof v === 'string' ? v : undefined;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new FramewormError('E_USAGE', `--port must be an integer 1–65535 (got "${value}")`);
  }
  return port;
}

/** `--replicas K`: an integer; the range (1 … the limit, 0 meaning stop) is checked by the control plane. */
function parseReplicas(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) throw new FramewormError('E_USAGE', `--replicas must be an integer (got "${value}")`);
  return n;
}

function parseImageSize(value: string): number {
  const size = Number(value);
  if (!Number.isInteger(size) || size < 4 || size > 4096) {
    throw new FramewormError('E_USAGE', `--image-size must be an integer 4–4096 (got "${value}")`);
  }
  return size;
}

function curlExample(endpoint: string, type: string): string {
  const body = type === 'generic' ? '{"inputs": {"<input name>": [[...]]}}' : '{...}';
  return `curl -s -X POST ${endpoint}/predict -H 'content-type: application/json' -d '${body}'`;
}

/** `frameworm deploy …`: start, status, promote, rollback, stop, list, inspect. */
export function registerDeployCommands(program: Command): void {
  const deploy = program.command('deploy').description('deploy, promote, roll back and inspect models');

  withCommon(
    deploy
      .command('start')
      .description('deploy a model: inspect, register, export and serve it behind a stable endpoint')
      .requiredOption('--model <path>', 'checkpoint (.pt) or ONNX model')
      .requiredOption('--name <name>', 'deployment name')
      .addOption(new Option('--type <type>', 'architecture').choices(['auto', ...MODEL_TYPES]).default('auto'))
      .option('--version <v>', 'version label (default: next v<N>)')
      .option('--shift <profile>', 'drift reference profile')
      .option('--build-docker', 'build a Docker image and serve it (target docker)')
      .addOption(new Option('--target <target>', 'where to serve').choices([...TARGETS]))
      .option('--port <n>', 'port of the stable endpoint')
      .option('--quantize', 'quantize the exported model')
      .option('--image-size <n>', 'image size for ddpm, cfg_ddpm, vqvae2 (not recorded in their weights; default 32)')
      .addOption(new Option('--stage <stage>', 'production switches traffic; staging only registers').choices(['production', 'staging']))
      .option('--base-image <image>', "Docker base image (default deploy.docker_base_image); 'offline' builds one from Debian packages")
      .option('--dataset <path>', 'training dataset (file or folder): its sha256 goes into the lineage')
      .option('--dataset-checksum <sha256>', 'training dataset checksum computed elsewhere')
      .option('--replicas <n>', 'replicas on the swarm target (default deploy.swarm_replicas)'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const out = makeOutput(common.json);
    const args: DeployStartArgs = {
      model: path.resolve(str(opts, 'model') ?? ''),
      name: str(opts, 'name') ?? '',
      type: (str(opts, 'type') ?? 'auto') as ModelTypeName | 'auto',
      ...(str(opts, 'version') ? { version: str(opts, 'version') } : {}),
      ...(str(opts, 'target') ? { target: str(opts, 'target') as TargetName } : {}),
      ...(str(opts, 'port') ? { port: parsePort(str(opts, 'port') ?? '') } : {}),
      ...(str(opts, 'stage') ? { stage: str(opts, 'stage') as 'production' | 'staging' } : {}),
      ...(str(opts, 'shift') ? { shift: str(opts, 'shift') } : {}),
      ...(str(opts, 'baseImage') ? { baseImage: str(opts, 'baseImage') } : {}),
      ...(opts['quantize'] ? { quantize: true } : {}),
      ...(str(opts, 'imageSize') ? { imageSize: parseImageSize(str(opts, 'imageSize') ?? '') } : {}),
      ...(str(opts, 'dataset') ? { dataset: path.resolve(str(opts, 'dataset') ?? '') } : {}),
      ...(str(opts, 'datasetChecksum') ? { datasetChecksum: str(opts, 'datasetChecksum') } : {}),
      ...(str(opts, 'replicas') !== undefined ? { replicas: parseReplicas(str(opts, 'replicas') ?? '') } : {}),
      buildDocker: Boolean(opts['buildDocker']),
      actor: process.env['USER'] ?? 'cli',
    };
    const r = await invokeChange(common.workspace, args.name, 'deploy.start', args, (before, after) => {
      const added = [...after.versions.values()].find((v) => !before.versions.has(v.version) && (v.stage === 'production' || v.stage === 'staging'));
      if (!added) return null;
      return {
        name: args.name, version: added.version, type: added.type, target: added.target, stage: added.stage,
        endpoint: after.endpoint, archived_version: added.stage === 'production' ? before.production : null,
        export_dir: path.dirname(added.artifacts['manifest'] ?? added.artifacts['onnx'] ?? ''),
      };
    }, (p) => out.progress(p));
    out.result(r, () =>
      r.stage === 'production'
        ? [
            `${r.name} ${r.version} (${r.type}, ${r.target}) is serving at ${r.endpoint ?? '?'}` +
              (r.archived_version ? ` (archived ${r.archived_version})` : ''),
            `  ${curlExample(r.endpoint ?? '', r.type)}`,
            `  metrics: curl -s ${r.endpoint ?? ''}/metrics`,
          ].join('\n')
        : `${r.name} ${r.version} (${r.type}) registered as ${r.stage}; switch it in with: frameworm deploy promote --name ${r.name} --version ${r.version} --stage production`,
    );
  });

  withCommon(deploy.command('status').description('versions, stages, endpoint and live metrics').requiredOption('--name <name>')).action(
    async (opts: Opts) => {
      const common = commonOf(opts);
      const s = await (await ensureAgent(common.workspace)).invoke('deploy.status', { name: str(opts, 'name') ?? '' });
      makeOutput(common.json).result(s, () => formatStatus(s));
    },
  );

  withCommon(
    deploy
      .command('promote')
      .description('move a version to another stage (production switches traffic to it)')
      .requiredOption('--name <name>')
      .requiredOption('--version <v>')
      .addOption(new Option('--stage <stage>').choices(['dev', 'staging', 'production', 'archived']).makeOptionMandatory())
      .option('--reason <text>', 'why (kept in the registry)'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const name = str(opts, 'name') ?? '';
    const version = str(opts, 'version') ?? '';
    const stage = str(opts, 'stage') as 'dev' | 'staging' | 'production' | 'archived';
    const r = await invokeChange(common.workspace, name, 'deploy.promote', {
      name, version, stage,
      ...(str(opts, 'reason') ? { reason: str(opts, 'reason') } : {}),
      actor: process.env['USER'] ?? 'cli',
    }, (before, after) => {
      if (before.versions.get(version)?.stage === stage || after.versions.get(version)?.stage !== stage) return null;
      const archived = stage === 'production' && before.production !== version ? before.production : null;
      return { name, version, stage, archived_version: archived, endpoint: after.endpoint };
    });
    makeOutput(common.json).result(r, () => `${r.name} ${r.version} → ${r.stage}${r.archived_version ? ` (archived ${r.archived_version})` : ''}`);
  });

  withCommon(
    deploy
      .command('rollback')
      .description('bring the previous production version back behind the same endpoint')
      .requiredOption('--name <name>')
      .option('--reason <text>', 'why', 'manual rollback'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const out = makeOutput(common.json);
    const name = str(opts, 'name') ?? '';
    const reason = str(opts, 'reason') ?? 'manual rollback';
    const r = await invokeChange(common.workspace, name, 'deploy.rollback', { name, reason, actor: process.env['USER'] ?? 'cli' }, (before, after) => {
      if (after.production === null || after.production === before.production) return null;
      return { name, from_version: before.production, to_version: after.production, endpoint: after.endpoint, reason };
    }, (p) => out.progress(p));
    out.result(r, () => `${r.name} rolled back ${r.from_version ?? '(none)'} → ${r.to_version} at ${r.endpoint ?? '?'}`);
  });

  withCommon(deploy.command('stop').description('stop serving and archive the production version').requiredOption('--name <name>')).action(
    async (opts: Opts) => {
      const common = commonOf(opts);
      const name = str(opts, 'name') ?? '';
      const r = await invokeChange(common.workspace, name, 'deploy.stop', { name }, (before, after) => {
        if (before.production === null || after.production !== null) return null;
        return { name, stopped_version: before.production, archived: true };
      });
      makeOutput(common.json).result(r, () => `${r.name} stopped${r.stopped_version ? `; ${r.stopped_version} archived` : ''}`);
    },
  );

  withCommon(
    deploy
      .command('scale')
      .description('change how many replicas serve the production version (swarm target); 0 is deploy stop')
      .requiredOption('--name <name>')
      .requiredOption('--replicas <k>', 'replicas, from 1 to the limit'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const out = makeOutput(common.json);
    const name = str(opts, 'name') ?? '';
    const replicas = parseReplicas(str(opts, 'replicas') ?? '');
    const r = await (await ensureAgent(common.workspace)).invoke('deploy.scale', { name, replicas, actor: process.env['USER'] ?? 'cli' }, (p) => out.progress(p));
    out.result(r, () => `${r.name} ${r.version}: ${r.from_replicas} → ${r.replicas} replica(s), ${r.running} running`);
  });

  withCommon(
    deploy
      .command('logs')
      .description("the last lines of the production container's log (docker target)")
      .requiredOption('--name <name>')
      .option('--tail <n>', 'how many lines, 1 to 1000', '100'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const out = makeOutput(common.json);
    const name = str(opts, 'name') ?? '';
    const tail = Number(str(opts, 'tail') ?? '100');
    if (!Number.isInteger(tail) || tail < 1 || tail > 1000) throw new FramewormError('E_USAGE', `--tail must be a whole number from 1 to 1000, got ${str(opts, 'tail')}`);
    const r = await (await ensureAgent(common.workspace)).invoke('deploy.logs', { name, tail });
    out.result(r, () => r.lines.join('\n'));
  });

  withCommon(
    deploy
      .command('drill')
      .description('inject latency or server errors into the production version (any target) to prove the guard; --clear ends it')
      .requiredOption('--name <name>')
      .option('--latency-ms <ms>', 'added latency per request')
      .option('--error-rate <r>', 'fraction of /predict requests answered 500 (seeded), 0–1')
      .option('--duration <s>', 'end by itself after this many seconds')
      .option('--seed <n>', 'seed of which requests fail')
      .option('--clear', 'end the running drill'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const name = str(opts, 'name') ?? '';
    const num = (key: string, flag: string): number | undefined => {
      const v = str(opts, key);
      if (v === undefined) return undefined;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new FramewormError('E_USAGE', `${flag} must be a number (got "${v}")`);
      return n;
    };
    const clear = Boolean(opts['clear']);
    const latency = num('latencyMs', '--latency-ms');
    const errorRate = num('errorRate', '--error-rate');
    const duration = num('duration', '--duration');
    const seed = num('seed', '--seed');
    if (clear && (latency !== undefined || errorRate !== undefined || duration !== undefined)) {
      throw new FramewormError('E_USAGE', '--clear takes no --latency-ms, --error-rate or --duration');
    }
    if (!clear && latency === undefined && errorRate === undefined) {
      throw new FramewormError('E_USAGE', 'give --latency-ms X or --error-rate R (or --clear)');
    }
    const r = await (await ensureAgent(common.workspace)).invoke('deploy.drill', {
      name,
      ...(clear ? { clear: true } : {}),
      ...(latency !== undefined ? { latency_ms: latency } : {}),
      ...(errorRate !== undefined ? { error_rate: errorRate } : {}),
      ...(duration !== undefined ? { duration_s: duration } : {}),
      ...(seed !== undefined ? { seed } : {}),
      actor: process.env['USER'] ?? 'cli',
    });
    makeOutput(common.json).result(r, () => {
      const d = r.drill;
      if (!d) return `${r.name}: no drill`;
      const what = [d.latency_ms !== null ? `+${d.latency_ms} ms` : '', d.error_rate !== null ? `${d.error_rate * 100}% errors (seed ${d.seed})` : ''].filter(Boolean).join(', ');
      return r.action === 'cleared'
        ? `${r.name}: drill on ${d.version} cleared after ${d.requests} request(s), ${d.injected_errors} injected error(s)`
        : `${r.name}: drill on ${d.version}: ${what}${d.expires_at ? ` until ${d.expires_at}` : ' until cleared or the version leaves production'}`;
    });
  });

  withCommon(
    deploy
      .command('events')
      .description("the model's events (NDJSON with --json); --follow keeps printing new ones until Ctrl-C")
      .requiredOption('--name <name>')
      .option('--follow', 'keep printing events as they happen')
      .option('--limit <n>', 'how many of the newest events to print first', '50'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const name = str(opts, 'name') ?? '';
    const limit = Number(str(opts, 'limit') ?? '50');
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new FramewormError('E_USAGE', `--limit must be an integer from 1 to 10000 (got "${str(opts, 'limit') ?? ''}")`);
    const client = await ensureAgent(common.workspace);
    const print = (e: EventView): void => {
      process.stdout.write(common.json ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`);
    };
    const past = await client.invoke('events.list', { name, limit });
    for (const e of past) print(e);
    if (!opts['follow']) return;
    const lastId = past.at(-1)?.id ?? 0;
    // Ctrl-C ends following normally (exit 0); the agent sees the connection close.
    await new Promise<void>((resolve, reject) => {
      process.once('SIGINT', () => resolve());
      client
        .invoke('events.follow', { name, after_id: lastId ?? 0 }, undefined, (channel, payload) => {
          if (channel === 'event') print(payload as EventView);
        })
        .then(() => resolve(), reject);
    });
    process.exit(0);
  });

  withCommon(deploy.command('list').description('deployments in this workspace')).action(async (opts: Opts) => {
    const common = commonOf(opts);
    const rows = await (await ensureAgent(common.workspace)).invoke('deploy.list', {});
    makeOutput(common.json).result(rows, () => formatList(rows));
  });

  withCommon(
    deploy.command('inspect').description('architecture and hyper-parameters of a checkpoint or ONNX model (nothing is executed)').requiredOption('--model <path>'),
  ).action(async (opts: Opts) => {
    const common = commonOf(opts);
    // Inspection is pure TypeScript and never unpickles, so it runs right here without the agent.
    const report = await inspectModelFile(path.resolve(str(opts, 'model') ?? ''));
    makeOutput(common.json).result(report, () => formatInspection(report));
  });
}

/** One event on one line: time, event, version, then its other fields as key=value. */
function formatEvent(e: EventView): string {
  const skip = new Set(['id', 'ts', 'model', 'event', 'version']);
  const fields = Object.entries(e)
    .filter(([k, v]) => !skip.has(k) && v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
  return [e.ts, e.event.padEnd(16), typeof e['version'] === 'string' ? e['version'] : '-', ...fields].join('  ');
}

function formatList(rows: readonly DeploymentSummary[]): string {
  if (rows.length === 0) return 'no deployments in this workspace';
  return table(
    ['NAME', 'PRODUCTION', 'VERSIONS', 'SERVING', 'ENDPOINT'],
    rows.map((r) => [r.name, r.production ?? '-', String(r.versions), r.serving ? 'yes' : 'no', r.endpoint ?? '-']),
  );
}

function formatStatus(s: DeploymentStatus): string {
  const lines = [
    `${s.name}: ${s.serving ? `serving ${s.serving_version ?? '?'} at ${s.endpoint ?? '?'}` : 'not serving'}; production: ${s.production ?? 'none'}`,
  ];
  if (s.container) {
    const c = s.container;
    const exit = c.running ? '' : ` exit ${c.exit_code ?? '?'}${c.oom_killed ? ' (out of memory)' : ''}`;
    lines.push(`  container ${c.name} (${c.id.slice(0, 12)}): ${c.state}${exit}, health ${c.health}; image ${c.image} ${c.image_id.slice(7, 19)}; 127.0.0.1:${c.host_port}${c.error ? `; ${c.error}` : ''}`);
  }
  if (s.swarm) {
    const w = s.swarm;
    const update = w.update ? `; update ${w.update.state}${w.update.message ? ` (${w.update.message})` : ''}` : '';
    lines.push(`  swarm service ${w.service} (${w.service_id.slice(0, 12)}): ${w.version ?? '?'}, ${w.running}/${w.replicas} replica(s) running, order ${w.update_order || '?'}${update}${w.error ? `; ${w.error}` : ''}`);
    for (const t of w.tasks) {
      lines.push(`    task ${t.slot} ${t.id.slice(0, 12)}: ${t.state} (desired ${t.desired_state}), health ${t.health}, ${t.version ?? '?'}, 127.0.0.1:${t.port}${t.error ? `; ${t.error}` : ''}`);
    }
  }
  if (s.drill) {
    const d = s.drill;
    lines.push(`  drill on ${d.version}: ${d.latency_ms !== null ? `+${d.latency_ms} ms ` : ''}${d.error_rate !== null ? `${d.error_rate * 100}% errors ` : ''}(${d.requests} requests, ${d.injected_errors} injected errors${d.expires_at ? `, until ${d.expires_at}` : ''})`);
  }
  if (s.watcher) {
    const w = s.watcher;
    const last = w.last_checks.map((c) => String(c['verdict'] ?? '?')).join(' ') || 'none yet';
    lines.push(`  watcher: ${w.rule}; streak ${w.streak}/${w.required}; last checks: ${last}` +
      `${w.next_check_at ? `; next ${w.next_check_at}` : ''}${w.cooldown_until ? `; cooldown until ${w.cooldown_until}` : ''}`);
  }
  if (s.metrics) {
    const m = s.metrics;
    lines.push(`  p50 ${m.p50_ms.toFixed(2)} ms  p95 ${m.p95_ms.toFixed(2)} ms  p99 ${m.p99_ms.toFixed(2)} ms  error rate ${(m.error_rate * 100).toFixed(1)}%  requests ${m.requests} (window ${m.window_s} s)`);
    if (m.batching) {
      const b = m.batching;
      const perCall = b.calls > 0 ? (b.rows / b.calls).toFixed(1) : '-';
      const delay = b.queue_delay_ms.count > 0 ? (b.queue_delay_ms.sum / b.queue_delay_ms.count).toFixed(2) : '-';
      lines.push(`  batching (${b.mode}): up to ${b.max_rows} rows within ${b.max_delay_ms} ms; ${b.calls} calls, ${perCall} rows/call, mean queue delay ${delay} ms, ${b.queued} queued, ${b.overload_rejections} refused as overload`);
    }
  }
  lines.push(
    table(
      ['VERSION', 'STAGE', 'TYPE', 'TARGET', 'CREATED', 'CHECKPOINT SHA256', 'DATASET SHA256'],
      s.versions.map((v) => [
        v.version, v.stage, v.type, v.target, v.created_at,
        String(v.lineage['checkpoint_sha256'] ?? '').slice(0, 12),
        v.lineage['dataset_checksum'] ? String(v.lineage['dataset_checksum']).slice(0, 12) : '-',
      ]),
    ),
  );
  return lines.join('\n');
}
