/**
 * `POST /upload`: a checkpoint dropped on the web GUI, streamed to a private temporary file in
 * the workspace, since a browser has no file paths to hand to deploy.inspect / deploy.start.
 * The body never passes through memory or the RPC body limit; `max_upload_bytes` caps it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../workspace/private-files.js';

/** Where uploads go: `.frameworm/uploads/` of the workspace. */
export const uploadsDirOf = (workspaceRoot: string): string => path.join(workspaceRoot, '.frameworm', 'uploads');

/** The outcome of one upload, as an HTTP status and JSON body. */
export type UploadOutcome =
  | { readonly status: 200; readonly path: string; readonly bytes: number }
  | { readonly status: 400 | 413 | 500; readonly message: string };

class TooLarge extends Error {}

/**
 * The extension of the dropped file's name, kept so inspection sees `.pt` / `.onnx`; anything
 * else about the name is dropped (the stored name is random, so no name reaches the path).
 */
export function safeExtension(name: string | null): string {
  const ext = path.extname(name ?? '').toLowerCase();
  return /^\.[a-z0-9]{1,12}$/.test(ext) ? ext : '';
}

/** Streams the request body to a new 0600 file; removes it again on any failure. */
export async function receiveUpload(req: IncomingMessage, workspaceRoot: string, limit: number, fileName: string | null): Promise<UploadOutcome> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return { status: 413, message: `the file is ${declared} bytes; max_upload_bytes allows ${limit}` };
  }
  const dir = uploadsDirOf(workspaceRoot);
  makePrivateDir(path.dirname(dir), { tighten: true });
  makePrivateDir(dir, { tighten: true });
  const file = path.join(dir, `${randomBytes(16).toString('hex')}${safeExtension(fileName)}`);
  let bytes = 0;
  const out = fs.createWriteStream(file, { flags: 'wx', mode: PRIVATE_FILE_MODE });
  try {
    await new Promise<void>((resolve, reject) => {
      // Not stream.pipeline: it would destroy the request on a limit breach, and with it the
      // socket the 413 must go out on. The rest of an oversized body is read and dropped.
      const fail = (err: unknown): void => {
        req.unpipe(out);
        req.off('data', count);
        req.resume();
        reject(err);
      };
      const count = (chunk: Buffer): void => {
        bytes += chunk.length;
        if (bytes > limit) fail(new TooLarge());
      };
      req.on('data', count);
      req.once('aborted', () => fail(new Error('aborted')));
      req.on('error', fail);
      out.on('error', fail);
      out.once('finish', () => resolve());
      req.pipe(out);
    });
    return { status: 200, path: file, bytes };
  } catch (err) {
    out.destroy();
    fs.rmSync(file, { force: true });
    if (err instanceof TooLarge) return { status: 413, message: `the file is larger than max_upload_bytes (${limit} bytes)` };
    if (req.destroyed || req.readableAborted) return { status: 400, message: 'the upload was interrupted' };
    return { status: 500, message: `could not store the upload: ${err instanceof Error ? err.message : String(err)}` };
  }
}
