/**
 * Checks a /predict request must pass before its body is parsed: the declared media type and the
 * nesting depth of the JSON text. Both guard against input that costs the server more than it
 * should or that a web page could send without the browser asking first.
 *
 * The generated Python server (templates/server/server.py) applies the same rules with the same
 * messages; keep the two in step.
 */

/**
 * Deepest nesting of arrays and objects a /predict body may have. The architecture schemas need
 * at most 5 (`{"x": [B][C][H][W]}`); generic models get room for inputs of rank up to 14 inside
 * `{"inputs": {...}}`. Anything deeper cannot match a schema, and refusing it before parsing
 * keeps every later step (validation, re-encoding for a container) free of deep recursion.
 */
export const MAX_JSON_DEPTH = 16;

/** Media types a /predict body may have: JSON, or tensors in one safetensors body. */
export const ACCEPTED_REQUEST_TYPES: readonly string[] = ['application/json', 'application/vnd.safetensors'];

/** A request the endpoint refuses before reading it as JSON: status and `{error, detail}` body. */
export interface Refusal {
  readonly status: 400 | 415;
  readonly error: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/**
 * The media type of a Content-Type header (lower case, parameters such as charset dropped), or
 * null when the header is absent or empty.
 */
export function mediaType(header: string | undefined): string | null {
  if (header === undefined) return null;
  const mime = header.split(';')[0]!.trim().toLowerCase();
  return mime === '' ? null : mime;
}

/**
 * Refuses a request whose Content-Type is not an accepted type (415). A missing type is refused
 * too: a browser page may POST text/plain or a form to 127.0.0.1 without a CORS preflight, but
 * not application/json, so requiring it keeps other web pages from driving inference.
 */
export function checkContentType(header: string | undefined): Refusal | null {
  const mime = mediaType(header);
  if (mime !== null && ACCEPTED_REQUEST_TYPES.includes(mime)) return null;
  const what = mime === null ? 'the request has no content-type' : `the content-type ${mime} is not supported`;
  return {
    status: 415,
    error: `${what}: send the body as JSON with the header 'content-type: application/json' (or tensors with 'content-type: application/vnd.safetensors')`,
    detail: { content_type: header ?? null, accepted: ACCEPTED_REQUEST_TYPES },
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether JSON text nests arrays and objects more than `limit` levels deep, found by one
 * iterative pass over the bytes (brackets inside strings do not count; a backslash in a string
 * escapes the next byte). Every byte it looks at is ASCII, which never occurs inside a multi-byte
 * UTF-8 sequence, so the raw bytes can be scanned without decoding. Stops at the first level past
 * the limit. Invalid JSON is answered as well as it can be; the parser refuses it afterwards.
 */
export function jsonDepthExceeds(bytes: Uint8Array, limit: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > limit) return true;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}

/** The 400 for a body nested deeper than {@link MAX_JSON_DEPTH}, or null when it is not. */
export function checkJsonDepth(bytes: Uint8Array, limit: number = MAX_JSON_DEPTH): Refusal | null {
  if (!jsonDepthExceeds(bytes, limit)) return null;
  return {
    status: 400,
    error: `request body nests arrays and objects more than ${limit} levels deep, deeper than any model's request`,
    detail: { max_depth: limit },
  };
}
