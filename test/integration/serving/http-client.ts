/**
 * A minimal keep-alive HTTP client for the endpoint tests (node:http, no extra packages).
 */
import http from 'node:http';
import net from 'node:net';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The body parsed as JSON. */
  json<T = Record<string, unknown>>(): T;
}

/** Sends one request and reads the whole answer. `body` objects are sent as JSON. */
export function request(
  url: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string>; agent?: http.Agent; exactHeaders?: boolean } = {},
): Promise<HttpAnswer> {
  const raw = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  // exactHeaders: send only the headers given (and the length), e.g. to test a missing content-type.
  const defaults: Record<string, string> = raw === undefined ? {} : options.exactHeaders ? { 'content-length': String(Buffer.byteLength(raw)) } : { 'content-type': 'application/json' };
  const headers: Record<string, string> = { ...defaults, ...options.headers };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? (raw === undefined ? 'GET' : 'POST'), headers, agent: options.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(raw);
  });
}

/** POSTs a JSON body to `/predict`. */
export function predict(base: string, body: unknown, agent?: http.Agent): Promise<HttpAnswer> {
  return request(`${base}/predict`, { body, agent });
}

/** A port nothing listens on right now (bound and released on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
