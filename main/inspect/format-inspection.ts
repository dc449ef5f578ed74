/**
 * Human-readable rendering of an InspectionReport for `frameworm deploy inspect` without --json.
 */
import type { JsonValue } from './pickle-json.js';
import type { InspectionReport, OnnxDim, OnnxValueInfo } from './inspect.js';

const TENSORS_SHOWN = 8;

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function table(rows: readonly (readonly string[])[], indent: string): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

function dims(shape: readonly OnnxDim[] | null): string {
  return shape ? `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '(unknown rank)';
}

function field(value: JsonValue | undefined, key: string): JsonValue | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value[key] : undefined;
}

const FORMAT_NAMES: Readonly<Record<string, string>> = {
  trainer: 'trainer checkpoint (model_state_dict + training state)',
  'state_dict+config': 'model_state_dict + config',
  state_dict: 'bare state dict',
};

function trainingLines(report: InspectionReport): string[] {
  const lines: string[] = [];
  const ts = report.metadata.training_state;
  const epoch = report.metadata.epoch ?? field(ts, 'current_epoch');
  const best = field(ts, 'best_metric');
  if (epoch !== undefined || best !== undefined) {
    const bestText = best !== undefined ? ` (best metric ${String(best)} at epoch ${String(field(ts, 'best_epoch') ?? '?')})` : '';
    lines.push(`  epoch          ${epoch !== undefined ? String(epoch) : '?'}${bestText}`);
  }
  const step = field(ts, 'global_step');
  if (step !== undefined) lines.push(`  global step    ${String(step)}`);
  const opt = report.metadata.optimizer;
  if (opt) lines.push(`  optimizer      ${opt.kind}${opt.lr !== undefined ? `, lr ${opt.lr}` : ''}`);
  return lines;
}

function ioRows(values: readonly OnnxValueInfo[], direction: string): string[][] {
  return values.map((v) => [direction, v.name, v.dtype, dims(v.shape)]);
}

/** Renders a report as multi-line text: architecture, hyper-parameters, size, training state, tensors or ONNX I/O. */
export function formatInspection(report: InspectionReport): string {
  const lines: string[] = [report.path];
  const format = report.format === 'onnx'
    ? `ONNX (ir ${report.onnx?.ir_version ?? '?'}, opset ${report.onnx?.opset.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ') ?? '?'}, producer ${report.onnx?.producer || '?'})`
    : `PyTorch, ${FORMAT_NAMES[report.checkpoint_format ?? ''] ?? report.checkpoint_format ?? '?'}`;
  lines.push(`  format         ${format}`);
  lines.push(`  architecture   ${report.type}${report.reason ? ` (${report.reason})` : ''}`);
  const hp = Object.entries(report.hyper_parameters);
  if (hp.length) {
    lines.push('  hyper-parameters');
    lines.push(...table(hp.map(([k, v]) => [k, Array.isArray(v) ? `[${v.join(', ')}]` : String(v)]), '    '));
  }
  lines.push(`  parameters     ${report.n_params.toLocaleString('en-US')} in ${report.n_tensors} tensors`);
  lines.push(...trainingLines(report));
  lines.push(`  size           ${size(report.size_bytes)}`);
  lines.push(`  sha256         ${report.sha256}`);
  if (report.onnx) {
    lines.push('  inputs / outputs');
    lines.push(...table([...ioRows(report.onnx.inputs, 'in'), ...ioRows(report.onnx.outputs, 'out')], '    '));
  } else if (report.tensors.length) {
    const shown = report.tensors.slice(0, TENSORS_SHOWN);
    lines.push(`  tensors (${shown.length} of ${report.tensors.length})`);
    lines.push(...table(shown.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`]), '    '));
  }
  if (report.warnings.length) {
    lines.push('  warnings');
    for (const w of report.warnings) lines.push(`    - ${w}`);
  }
  return lines.join('\n');
}
