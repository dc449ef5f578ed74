/**
 * One HTTP forward of a /predict call to a server of the generated image (a container of the
 * docker target, a task of the swarm target), shared by both backends: the client's bytes and
 * Accept header go out unchanged, and the answer comes back as one buffer.
 */
import http from 'node:http';
import { FramewormError } from '../common/errors.js';
import { RawBody, RawJson } from '../serving/http-io.js';
import { RequestError } from '../serving/schemas/types.js';

/** What one forward sends. */
export interface ForwardRequest {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly payload: Buffer;
  readonly contentType: string;
  /** The client's Accept header, passed on when it sent one. */
  readonly accept: string | undefined;
  readonly timeoutMs: number;
}

/** The server's answer, read whole. */
export interface ForwardAnswer {
  readonly status: number;
  readonly body: Buffer;
  /** The answer's media type, lower case, without parameters ('' when absent). */
  readonly type: string;
}

/** Largest answer read into one buffer sized by its Content-Length; bigger ones are gathered in chunks. */
const MAX_PREALLOCATED = 256 * 1024 * 1024;

/**
 * POSTs one request through `agent` and reads the answer. Rejects with the socket's error (its
 * errno `code` kept) when no HTTP answer came, or with a plain Error on the time-out. A kept-alive
 * socket that the server closed just as it was reused is retried once on a new connection: the
 * request never reached the server's application (Node's advice for `reusedSocket`).
 */
export function forwardPost(agent: http.Agent, r: ForwardRequest, retried = false): Promise<ForwardAnswer> {
  const headers: http.OutgoingHttpHeaders = { 'content-type': r.contentType, 'content-length': r.payload.length };
  if (r.accept !== undefined) headers['accept'] = r.accept;
  return new Promise<ForwardAnswer>((resolve, reject) => {
    const req = http.request({ host: r.host, port: r.port, path: r.path, method: 'POST', agent, headers, timeout: r.timeoutMs }, (res) => {
      // With a declared length (uvicorn always sends one) the answer is read straight into one
      // buffer of that size: no chunk list, no concatenation (measured: about a quarter of the
      // forwarding CPU above a bare streaming proxy). Anything unexpected falls back to chunks.
      const declared = Number(res.headers['content-length']);
      const whole = Number.isSafeInteger(declared) && declared >= 0 && declared <= MAX_PREALLOCATED ? Buffer.allocUnsafe(declared) : null;
      const chunks: Buffer[] = [];
      let filled = 0;
      res.on('data', (c: Buffer) => {
        if (whole && chunks.length === 0 && filled + c.length <= whole.length) {
          c.copy(whole, filled);
          filled += c.length;
        } else chunks.push(c);
      });
      res.on('end', () => {
        const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const head = whole ? [whole.subarray(0, filled)] : [];
        const body = chunks.length === 0 && whole ? head[0]! : Buffer.concat([...head, ...chunks]);
        resolve({ status: res.statusCode ?? 500, body, type });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(r.timeoutMs)} ms`)));
    req.on('error', (err) => {
      if (!retried && req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        resolve(forwardPost(agent, r, true));
        return;
      }
      reject(err);
    });
    req.end(r.payload);
  });
}

/**
 * The backend's result for a server's answer: a 200 body passed through unchanged (RawJson, or
 * RawBody for e.g. a safetensors answer), a 4xx as a RequestError with the server's own message
 * and detail, anything else an E_RUNTIME error that counts toward the error rate.
 * `who` names the server in that error ("container fw-x", "swarm service fw-x").
 */
export function forwardResult(answer: ForwardAnswer, who: string): object {
  if (answer.status === 200) return answer.type === 'application/json' || answer.type === '' ? new RawJson(answer.body) : new RawBody(answer.body, answer.type);
  const parsed = parseError(answer.body);
  if (answer.status >= 400 && answer.status < 500) throw new RequestError(answer.status, parsed.error, parsed.detail);
  throw new FramewormError('E_RUNTIME', `${who} answered ${answer.status}: ${parsed.error}`);
}

function parseError(body: Buffer): { error: string; detail: unknown } {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { error?: unknown; detail?: unknown };
    if (doc && typeof doc.error === 'string') return { error: doc.error, detail: doc.detail ?? null };
  } catch {
    /* not JSON */
  }
  const text = body.toString('utf8').trim().slice(0, 300);
  return { error: text || 'empty answer', detail: null };
}
