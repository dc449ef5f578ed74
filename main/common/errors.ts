/**
 * Errors that carry a stable code, a one-line message for users, and the HTTP status / exit
 * code they map to. Domain code throws these; the CLI prints `message` on one line and exits
 * with `exitCode`; the agent and the HTTP runtime send `{error, code, detail}`.
 */
export type ErrorCode =
  | 'E_USAGE' // bad command-line usage
  | 'E_CONFIG' // deploy_config.yaml invalid
  | 'E_INPUT' // a user file is unreadable, missing, a directory, corrupt or not what it claims
  | 'E_UNSAFE' // a pickle tried to use something outside the allow-list
  | 'E_NOT_FOUND' // model / version / deployment does not exist
  | 'E_CONFLICT' // duplicate version, illegal transition, concurrent change
  | 'E_PORT_IN_USE'
  | 'E_RUNTIME' // model failed to load or run
  | 'E_AGENT' // control plane unreachable or failed
  | 'E_INTERNAL';

const EXIT_CODES: Record<ErrorCode, number> = {
  E_USAGE: 2,
  E_CONFIG: 3,
  E_INPUT: 4,
  E_UNSAFE: 4,
  E_NOT_FOUND: 5,
  E_CONFLICT: 6,
  E_PORT_IN_USE: 7,
  E_RUNTIME: 8,
  E_AGENT: 9,
  E_INTERNAL: 1,
};

export class FramewormError extends Error {
  override readonly name = 'FramewormError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** Turns anything thrown into a FramewormError, keeping codes that are already there. */
export function toFramewormError(err: unknown): FramewormError {
  if (err instanceof FramewormError) return err;
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    const code = (err as { code: string }).code;
    if (code in EXIT_CODES) return new FramewormError(code as ErrorCode, String((err as { message?: unknown }).message));
  }
  return new FramewormError('E_INTERNAL', err instanceof Error ? err.message : String(err));
}

/** Compile-time exhaustiveness check for switches over unions. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
