/**
 * The README demo: deploys the shipped demo DCGAN (trained by scripts/train_demo_dcgan.py on
 * drawn shapes; the demo trains nothing) on the embedded runtime with the real CLI — exporting
 * the FRAMEWORM checkpoint for real when a Python with torch is present, otherwise serving its
 * pre-exported ONNX — generates images through the HTTP API, shows the metrics, opens the GUI
 * (the desktop app where Electron and a display are there, else `frameworm ui --web`, whose URL
 * it prints), and leaves it all running with instructions for calling and stopping it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { electronBinary } from '../main/cli/ui-command.js';
import { findPython } from '../main/export/python-finder.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'bin/frameworm.js');
const workspace = path.join(root, 'demo-workspace');
const checkpoint = path.join(root, 'examples/models/demo-dcgan.pt');
const preExported = path.join(root, 'examples/models/demo-dcgan/model.onnx');
const rel = (p: string): string => path.relative(root, p);
/** How long `frameworm ui --web` may take to print its URL (it starts nothing new: the agent runs). */
const UI_START_MS = 60_000;

function frameworm(args: string[], json = false): string {
  console.log(`\n$ frameworm ${args.map((a) => (a.startsWith(root) ? rel(a) : a)).join(' ')}`);
  const r = spawnSync(process.execPath, [cli, ...args, '--workspace', workspace, ...(json ? ['--json'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    throw new Error(`frameworm ${args[0] ?? ''} ${args[1] ?? ''} failed with exit code ${String(r.status)}`);
  }
  if (!json) process.stdout.write(r.stdout);
  return r.stdout;
}

async function main(): Promise<void> {
  fs.mkdirSync(workspace, { recursive: true });
  frameworm(['deploy', 'inspect', '--model', checkpoint]);

  let model = checkpoint;
  try {
    const python = await findPython(null);
    console.log(`\nPython ${python.python} with torch ${python.torch} found: exporting the checkpoint for real.`);
  } catch {
    model = preExported;
    console.log('\nNo Python with torch here: serving the pre-exported ONNX of the same checkpoint.');
  }
  const started = JSON.parse(frameworm(['deploy', 'start', '--model', model, '--name', 'demo-gan'], true)) as { endpoint: string; version: string; type: string };
  console.log(`deployed demo-gan ${started.version} (${started.type}) at ${started.endpoint}`);

  const body = { batch_size: 4, seed: 42, output_format: 'png' };
  console.log(`\n$ POST ${started.endpoint}/predict ${JSON.stringify(body)}`);
  const res = await fetch(`${started.endpoint}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await res.json()) as { images?: string[]; error?: string; latency_ms?: number };
  if (!res.ok || !answer.images) throw new Error(`predict failed: HTTP ${res.status} ${answer.error ?? ''}`);
  const outDir = path.join(workspace, 'samples');
  fs.mkdirSync(outDir, { recursive: true });
  answer.images.forEach((png, i) => fs.writeFileSync(path.join(outDir, `seed42-${i}.png`), Buffer.from(png, 'base64')));
  console.log(`HTTP ${res.status}: ${answer.images.length} PNG images (64×64) in ${answer.latency_ms ?? '?'} ms → ${rel(outDir)}/seed42-*.png`);

  for (let i = 0; i < 40; i++) {
    const r = await fetch(`${started.endpoint}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_size: 1, seed: i }) });
    await r.arrayBuffer();
  }
  const metrics = (await (await fetch(`${started.endpoint}/metrics`)).json()) as Record<string, unknown>;
  console.log(`\n$ GET ${started.endpoint}/metrics  (after 41 requests)\np50 ${String(metrics['p50_ms'])} ms, p95 ${String(metrics['p95_ms'])} ms, p99 ${String(metrics['p99_ms'])} ms, error rate ${String(metrics['error_rate'])}, requests ${String(metrics['requests'])}`);
  frameworm(['deploy', 'status', '--name', 'demo-gan']);

  const ui = await startGui();

  console.log(`
demo-gan keeps serving in the background (workspace: ${rel(workspace)}). Call it with:
  curl -s -X POST ${started.endpoint}/predict -H 'content-type: application/json' -d '{"batch_size": 2, "seed": 7}'
  curl -s -X POST ${started.endpoint}/predict -H 'content-type: application/json' -d '{"batch_size": 1, "seed": 7, "output_format": "png"}'
  curl -s ${started.endpoint}/metrics        # JSON; ?format=prometheus for Prometheus text
Manage it with:
  node bin/frameworm.js deploy status --name demo-gan --workspace demo-workspace
  node bin/frameworm.js deploy rollback --name demo-gan --workspace demo-workspace   # after a second deploy
  node bin/frameworm.js deploy stop --name demo-gan --workspace demo-workspace
  node bin/frameworm.js agent stop --workspace demo-workspace
${ui}`);
}

/**
 * Stops the GUI an earlier demo run left running (its pid in `pidFile`), so demos do not pile up
 * servers; only a process whose command line is that GUI over this workspace is signalled.
 */
function stopEarlierGui(pidFile: string): void {
  const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : NaN);
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return; // gone (or no /proc: leave it)
  }
  if (cmdline.includes(cli) && cmdline.includes(' ui') && cmdline.includes(workspace)) process.kill(pid, 'SIGTERM');
}

/** Detached child running the CLI with `args`, its output appended to `logFile`. */
function detachedFrameworm(args: string[], logFile: string): number {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [cli, ...args, '--workspace', workspace], { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start frameworm ${args.join(' ')}`);
  return child.pid;
}

/**
 * Opens the GUI over the demo workspace, detached so it outlives the demo: the Electron app
 * where it is installed and a display is there, otherwise `frameworm ui --web`, whose URL (read
 * from its log: a pipe would break once the demo exits) is printed. Returns how to stop it.
 */
async function startGui(): Promise<string> {
  const logFile = path.join(workspace, 'ui.log');
  const pidFile = path.join(workspace, 'ui.pid');
  stopEarlierGui(pidFile);
  fs.writeFileSync(logFile, '');
  if (electronBinary()) {
    console.log('\n$ frameworm ui   (a display and Electron are here: the desktop app)');
    const pid = detachedFrameworm(['ui'], logFile);
    fs.writeFileSync(pidFile, `${pid}\n`);
    return `The desktop app runs as pid ${pid} (log: ${rel(logFile)}); quit it from its window or tray.`;
  }
  console.log('\n$ frameworm ui --web   (no display or no Electron here: the GUI for a browser)');
  const pid = detachedFrameworm(['ui', '--web'], logFile);
  fs.writeFileSync(pidFile, `${pid}\n`);
  const deadline = Date.now() + UI_START_MS;
  for (;;) {
    const log = fs.readFileSync(logFile, 'utf8');
    const url = /^(http:\/\/127\.0\.0\.1:\d+\/\S*)$/m.exec(log)?.[1];
    if (url) {
      console.log(`GUI: ${url}\n(the address carries a one-time token; over SSH, forward its port first)`);
      return `The GUI server runs as pid ${pid} (log: ${rel(logFile)}); stop it with:\n  kill ${pid}`;
    }
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive || Date.now() > deadline) {
      if (alive) process.kill(pid, 'SIGTERM');
      throw new Error(`frameworm ui --web printed no URL${alive ? ` within ${UI_START_MS / 1000} s` : ''}: ${log.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
