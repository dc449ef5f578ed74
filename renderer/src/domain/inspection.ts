/**
 * The fields of `deploy.inspect`'s report that the inspection card shows, read defensively: the
 * contract types the result as a record, and a report from an older agent may lack some.
 */
export interface InspectionView {
  readonly path: string;
  readonly format: string;
  readonly type: string;
  readonly hyperParameters: Readonly<Record<string, unknown>>;
  readonly nParams: number | null;
  readonly warnings: readonly string[];
  /** Why the type is generic, when it is. */
  readonly reason: string | null;
  readonly sha256: string | null;
  readonly sizeBytes: number | null;
}

/** Reads the report; unknown shapes give empty fields, never a throw. */
export function toInspectionView(report: Readonly<Record<string, unknown>>): InspectionView {
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const hp = report['hyper_parameters'];
  const warnings = report['warnings'];
  return {
    path: str(report['path']) ?? '',
    format: str(report['format']) ?? 'unknown',
    type: str(report['type']) ?? 'generic',
    hyperParameters: typeof hp === 'object' && hp !== null && !Array.isArray(hp) ? (hp as Record<string, unknown>) : {},
    nParams: num(report['n_params']),
    warnings: Array.isArray(warnings) ? warnings.filter((w): w is string => typeof w === 'string') : [],
    reason: str(report['reason']),
    sha256: str(report['sha256']),
    sizeBytes: num(report['size_bytes']),
  };
}

/** Types whose image size the weights cannot tell (fully convolutional). */
export const NEEDS_IMAGE_SIZE: ReadonlySet<string> = new Set(['ddpm', 'cfg_ddpm', 'vqvae2']);

/** A deployment name from a file name: lowercase letters, digits and dashes. */
export function nameFromFile(fileName: string): string {
  const base = fileName.replace(/\.(pt|pth|ckpt|onnx|safetensors)$/i, '');
  const name = base.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return name || 'model';
}
