/**
 * Small HTTP helpers for the stable endpoint: bounded body reading and JSON answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toJsonBody } from './json-text.js';

/** The body is bigger than the endpoint accepts; answered with 413. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(
    readonly limit: number,
    readonly seen: number,
    readonly declared: boolean,
  ) {
    super(`request body is larger than the limit of ${limit} bytes`);
  }
}

/** The client went away before sending the whole body; nobody is left to answer. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

/**
 * Reads the request body, refusing it as soon as it is known to exceed `limit`: from the
 * Content-Length header before reading anything, or while streaming a chunked body. The
 * rejected body is never buffered; the caller answers 413 and drops the connection.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.pause();
    return Promise.reject(new BodyTooLargeError(limit, declared, true));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        chunks.length = 0;
        reject(new BodyTooLargeError(limit, size, false));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new ClientGoneError(err.message));
    };
    const onClose = (): void => {
      if (!req.complete) {
        cleanup();
        reject(new ClientGoneError('the client closed the connection before sending the whole body'));
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * A JSON document that is already serialised (a container's answer passed through): sendJson
 * writes its bytes as they are instead of parsing and re-encoding them.
 */
export class RawJson {
  constructor(readonly bytes: Buffer) {}
}

/**
 * An answer that is already encoded in another media type (a container's safetensors answer
 * passed through): sent as its bytes with its content type.
 */
export class RawBody {
  constructor(
    readonly bytes: Buffer,
    readonly contentType: string,
  ) {}
}

/**
 * Sends a binary answer made of pieces (a safetensors header and the tensors' own memory),
 * corked so they leave in as few writes as possible without being joined into one copy.
 */
export function sendBinary(res: ServerResponse, status: number, parts: readonly Uint8Array[], byteLength: number, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': byteLength, 'cache-control': 'no-store' });
  res.cork();
  for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]!);
  res.end(parts[parts.length - 1]);
}

/** Sends a JSON answer (a RawJson as its bytes), never cached. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  writeJson(res, status, body, headers);
}

/** Like sendJson, and returns the JSON text it sent (for whoever looks at answers afterwards). */
export function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): string | Buffer {
  const text = body instanceof RawJson ? body.bytes : toJsonBody(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
  return text;
}

/** Sends a plain-text answer. */
export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
