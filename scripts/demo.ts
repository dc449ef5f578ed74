/**
 * The README demo: deploys the shipped demo model on the embedded runtime with the real CLI,
 * calls it, shows its metrics, and leaves it serving (the agent keeps running in the
 * background) with instructions for calling and stopping it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'bin/frameworm.js');
const workspace = path.join(root, 'demo-workspace');
const model = path.join(root, 'examples/models/demo-mlp.onnx');

function frameworm(args: string[], json = false): string {
  const shown = ['frameworm', ...args].join(' ').replace(root + '/', '');
  console.log(`\n$ ${shown}`);
  const r = spawnSync(process.execPath, [cli, ...args, '--workspace', workspace, ...(json ? ['--json'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    throw new Error(`frameworm ${args.join(' ')} failed with exit code ${String(r.status)}`);
  }
  if (!json) process.stdout.write(r.stdout);
  return r.stdout;
}

async function main(): Promise<void> {
  fs.mkdirSync(workspace, { recursive: true });
  frameworm(['deploy', 'inspect', '--model', model]);
  const started = JSON.parse(frameworm(['deploy', 'start', '--model', model, '--name', 'demo'], true)) as { endpoint: string; version: string };
  console.log(`deployed demo ${started.version} at ${started.endpoint}`);

  const body = { inputs: { features: [Array.from({ length: 16 }, (_, i) => Math.round(Math.sin(i) * 1000) / 1000)] } };
  console.log(`\n$ POST ${started.endpoint}/predict ${JSON.stringify(body)}`);
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${started.endpoint}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as object;
    if (i === 0) console.log(`HTTP ${res.status} ${JSON.stringify(json)}`);
    if (!res.ok) throw new Error(`predict failed: HTTP ${res.status}`);
  }
  const metrics = await (await fetch(`${started.endpoint}/metrics`)).json();
  console.log(`\n$ GET ${started.endpoint}/metrics  (after 50 requests)\n${JSON.stringify(metrics)}`);
  frameworm(['deploy', 'status', '--name', 'demo']);

  console.log(`
The model keeps serving in the background (workspace: ${path.relative(process.cwd(), workspace) || '.'}). Call it with:
  curl -s -X POST ${started.endpoint}/predict -H 'content-type: application/json' -d '${JSON.stringify(body)}'
  curl -s ${started.endpoint}/metrics        # JSON; add ?format=prometheus for Prometheus text
Manage it with:
  node bin/frameworm.js deploy status --name demo --workspace demo-workspace
  node bin/frameworm.js deploy stop --name demo --workspace demo-workspace
  node bin/frameworm.js agent stop --workspace demo-workspace`);
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
