/**
 * One POST to a Slack incoming webhook through `@slack/webhook`, classified for the outbox:
 * sent, retry later (5xx, network, a 200 whose body is not `ok`), rate-limited (429 with its
 * Retry-After) or rejected (other 4xx). The package throws 429 like any 4xx and drops the
 * response headers, so our own `fetch`, passed in its options, keeps the status and the
 * Retry-After header of the last response.
 *
 * The webhook URL is a credential (whoever has it can post to the channel): no message this
 * module produces contains it or its path, whatever the underlying error said.
 */
import { IncomingWebhook, IncomingWebhookHTTPError, IncomingWebhookRequestError, type FetchFunction } from '@slack/webhook';
import { FramewormError } from '../common/errors.js';
import type { SlackMessage } from './slack-message.js';

/** Environment variable that holds the webhook URL when the config does not. */
export const SLACK_WEBHOOK_ENV = 'FRAMEWORM_SLACK_WEBHOOK';

/** How to set the URL, for messages that say it is missing. */
export const HOW_TO_SET_WEBHOOK = `set deploy.slack_webhook_url in configs/deploy_config.yaml or the ${SLACK_WEBHOOK_ENV} environment variable`;

/** Longest Retry-After honoured; a longer one is treated as this (Slack asks for seconds). */
export const MAX_RETRY_AFTER_MS = 60_000;

export type SlackSendResult =
  | { readonly kind: 'sent' }
  | { readonly kind: 'retry'; readonly error: string }
  | { readonly kind: 'rate_limited'; readonly retryAfterMs: number; readonly error: string }
  | { readonly kind: 'rejected'; readonly error: string };

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The webhook URL to use: the config's `slack_webhook_url`, else `FRAMEWORM_SLACK_WEBHOOK`,
 * else null. Plain http is refused (E_CONFIG) except to the loopback address (a local test
 * receiver): the URL travels in every request. Errors never include the URL.
 */
export function resolveWebhookUrl(configured: string | null | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  const fromConfig = configured?.trim() ? configured.trim() : null;
  const fromEnv = env[SLACK_WEBHOOK_ENV]?.trim() ? (env[SLACK_WEBHOOK_ENV] ?? '').trim() : null;
  const url = fromConfig ?? fromEnv;
  if (url === null) return null;
  const source = fromConfig !== null ? 'deploy.slack_webhook_url' : SLACK_WEBHOOK_ENV;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FramewormError('E_CONFIG', `${source} is not a valid URL (its value is not shown: it is a secret)`);
  }
  const loopbackHttp = parsed.protocol === 'http:' && LOOPBACK_HOSTS.has(parsed.hostname);
  if (parsed.protocol !== 'https:' && !loopbackHttp) {
    throw new FramewormError('E_CONFIG', `${source} must be an https:// URL (plain http only to 127.0.0.1, for a local test receiver)`);
  }
  return url;
}

/** Removes every trace of `url` (whole, without scheme, its path) from `text`. */
export function redactUrl(text: string, url: string): string {
  const secrets = new Set<string>([url]);
  try {
    const u = new URL(url);
    secrets.add(u.href);
    secrets.add(`${u.host}${u.pathname}`);
    if (u.pathname.length > 1) secrets.add(u.pathname);
    if (u.search.length > 1) secrets.add(u.search);
  } catch {
    // not a URL: the whole string is what has to go
  }
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('<webhook>');
  // Slack's own webhook paths, wherever they came from (a URL that changed since, an echo).
  return out.replace(/hooks\.slack(?:-gov)?\.com\/[^\s'"]*/gi, '<webhook>').replace(/\/services\/[A-Za-z0-9/_-]+/g, '<webhook>');
}

/** Seconds or an HTTP date, in milliseconds from `nowMs`, capped; 1 s when absent or unreadable. */
export function parseRetryAfter(header: string | null, nowMs: number): number {
  if (header !== null && header.trim() !== '') {
    const v = header.trim();
    if (/^\d+(\.\d+)?$/.test(v)) return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.ceil(Number(v) * 1000)));
    const at = Date.parse(v);
    if (!Number.isNaN(at)) return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - nowMs));
  }
  return 1000;
}

const short = (text: string, max = 200): string => {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
};

/** Network-level cause of a failed fetch, without the request's URL. */
function networkReason(err: IncomingWebhookRequestError): string {
  const original = err.original;
  const cause = (original as { cause?: unknown }).cause;
  const code = cause && typeof cause === 'object' && 'code' in cause ? String((cause as { code: unknown }).code) : null;
  if (original.name === 'TimeoutError' || original.name === 'AbortError') return 'the request timed out';
  if (code) return code;
  return cause instanceof Error ? cause.message : original.message;
}

export interface SlackWebhookClientOptions {
  /** Per-request time limit. */
  readonly timeoutMs?: number;
  /** The underlying fetch (default: Node's global fetch). */
  readonly fetch?: (url: string | URL, init?: RequestInit) => Promise<Response>;
}

/** Sends one message per call, never retrying itself: the caller (outbox) owns retry timing. */
export class SlackWebhookClient {
  private readonly timeoutMs: number;
  private readonly baseFetch: (url: string | URL, init?: RequestInit) => Promise<Response>;

  constructor(options: SlackWebhookClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.baseFetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  }

  /** Posts `message` to `url` once and says what happened; never throws, never echoes the URL. */
  async send(url: string, message: SlackMessage, nowMs: number = Date.now()): Promise<SlackSendResult> {
    let retryAfter: string | null = null;
    const capture: FetchFunction = async (u, init) => {
      const res = await this.baseFetch(u, init as RequestInit | undefined);
      retryAfter = res.headers.get('retry-after');
      return res;
    };
    try {
      const hook = new IncomingWebhook(url, { fetch: capture, timeout: this.timeoutMs, retryConfig: { retries: 0 } });
      const result = await hook.send({ text: message.text, blocks: [...message.blocks] });
      if (result.text.trim() === 'ok') return { kind: 'sent' };
      return { kind: 'retry', error: redactUrl(`Slack answered HTTP 200 with "${short(result.text, 100)}" instead of "ok"`, url) };
    } catch (err) {
      // p-retry wraps 4xx errors; the original is either the error itself or its `originalError`.
      const e = unwrap(err);
      if (e instanceof IncomingWebhookHTTPError) {
        const body = e.body ? `: ${short(e.body)}` : '';
        if (e.statusCode === 429) {
          const wait = parseRetryAfter(retryAfter, nowMs);
          return { kind: 'rate_limited', retryAfterMs: wait, error: redactUrl(`Slack rate-limited the webhook (HTTP 429, retry after ${Math.round(wait / 1000)} s)`, url) };
        }
        if (e.statusCode >= 500) return { kind: 'retry', error: redactUrl(`Slack answered HTTP ${e.statusCode}${body}`, url) };
        return { kind: 'rejected', error: redactUrl(`Slack refused the message with HTTP ${e.statusCode}${body}`, url) };
      }
      if (e instanceof IncomingWebhookRequestError) return { kind: 'retry', error: redactUrl(`could not reach Slack: ${networkReason(e)}`, url) };
      // Anything else (an invalid URL the package could not even request) will not get better by retrying.
      const text = e instanceof Error ? e.message : String(e);
      return { kind: 'rejected', error: redactUrl(`could not send to Slack: ${short(text)}`, url) };
    }
  }
}

function unwrap(err: unknown): unknown {
  if (err instanceof IncomingWebhookHTTPError || err instanceof IncomingWebhookRequestError) return err;
  const inner = err && typeof err === 'object' && 'originalError' in err ? (err as { originalError: unknown }).originalError : undefined;
  return inner ?? err;
}
