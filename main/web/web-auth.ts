/**
 * Who may talk to the web GUI server: the browser the user opened the printed URL in.
 *
 * The per-run token is handed over once in the URL; the server answers with an HttpOnly,
 * SameSite=Strict cookie and a redirect that removes the token from the address bar (VS Code's
 * `serve-web` pattern). `Host` must name the loopback address and port we listen on, which
 * defeats DNS rebinding (a foreign name resolving to 127.0.0.1); `Origin`, when a browser sends
 * one, must be our own page, which defeats cross-site requests that carry no cookie anyway.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Checks of one web server run (one token, one port). */
export class WebAuth {
  private readonly hosts: ReadonlySet<string>;
  private readonly origins: ReadonlySet<string>;

  constructor(
    private readonly token: string,
    readonly port: number,
  ) {
    this.hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
    this.origins = new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  }

  /**
   * The cookie's name carries the port: cookies are not separated by port, and two workspaces'
   * web servers on one machine must not overwrite each other's session.
   */
  get cookieName(): string {
    return `frameworm_${this.port}`;
  }

  /** The Set-Cookie value that opens a session (no Max-Age: it ends with the browser session). */
  sessionCookie(): string {
    return `${this.cookieName}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** True when the Host header is our loopback address and port. */
  hostAllowed(req: IncomingMessage): boolean {
    return this.hosts.has((req.headers.host ?? '').toLowerCase());
  }

  /** True when there is no Origin (not a browser's cross-origin request) or it is our own page. */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin === undefined || this.origins.has(origin.toLowerCase());
  }

  /** True for the run's token (constant-time comparison). */
  tokenMatches(given: string | null | undefined): boolean {
    if (typeof given !== 'string') return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** True when the request carries the session cookie or `Authorization: Bearer <token>`. */
  authorised(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    if (header !== undefined && /^Bearer\s+/i.test(header)) return this.tokenMatches(header.replace(/^Bearer\s+/i, ''));
    return this.tokenMatches(cookieValue(req.headers.cookie, this.cookieName));
  }
}

/** One cookie's value from a Cookie header, or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
