/**
 * A real local HTTP server standing in for Slack's incoming webhook: it records every request
 * (with the test clock's time) and answers with the next scripted reply, or its default mode.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode = 'ok' | '500' | '429' | '400' | 'notok' | 'hang' | 'echo';

export interface ReceivedRequest {
  readonly at: number;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: { text?: string; blocks?: { type: string; text?: { text: string }; fields?: { text: string }[] }[] };
}

export class SlackReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Replies used first, in order; then `mode`. */
  readonly script: ReceiverMode[] = [];
  mode: ReceiverMode = 'ok';
  retryAfterS = 7;
  private server: http.Server | null = null;
  private port = 0;

  /** The secret part a real Slack URL has in its path. */
  readonly secretPath = '/services/T0SECRET/B0SECRET/xoxSECRETtoken123';

  constructor(private readonly clock: () => number = () => Date.now()) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        let body: ReceivedRequest['body'] = {};
        try {
          body = JSON.parse(raw) as ReceivedRequest['body'];
        } catch {
          body = {};
        }
        this.requests.push({ at: this.clock(), path: req.url ?? '', headers: req.headers, body });
        const mode = this.script.shift() ?? this.mode;
        switch (mode) {
          case 'ok':
            res.writeHead(200, { 'content-type': 'text/html' }).end('ok');
            break;
          case '500':
            res.writeHead(500).end('internal_error');
            break;
          case '429':
            res.writeHead(429, { 'retry-after': String(this.retryAfterS) }).end('rate_limited');
            break;
          case '400':
            res.writeHead(400).end('invalid_blocks');
            break;
          case 'notok':
            res.writeHead(200).end('not ok');
            break;
          case 'echo':
            // a badly behaved proxy that repeats the request URL in its error page
            res.writeHead(404).end(`no_service for http://${req.headers.host ?? ''}${req.url ?? ''}`);
            break;
          case 'hang':
            // never answers: the client's timeout has to end it
            break;
        }
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}${this.secretPath}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A loopback URL nothing listens on (for network errors). */
export async function closedPortUrl(pathPart: string): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}${pathPart}`;
}
