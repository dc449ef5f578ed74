/**
 * Splits a streamed body into NDJSON lines. Chunks arrive cut anywhere, including inside a
 * multi-byte character, so bytes are decoded in streaming mode and a partial line waits for the
 * next chunk.
 */
export class NdjsonDecoder {
  private readonly decoder = new TextDecoder();
  private pending = '';

  /** Feeds one chunk; returns the complete, non-empty lines it finished. */
  push(chunk: Uint8Array): string[] {
    this.pending += this.decoder.decode(chunk, { stream: true });
    const parts = this.pending.split('\n');
    this.pending = parts.pop() ?? '';
    return parts.map((l) => l.trim()).filter((l) => l.length > 0);
  }

  /** Ends the stream; returns the last line when the body did not end with a newline. */
  end(): string[] {
    this.pending += this.decoder.decode();
    const last = this.pending.trim();
    this.pending = '';
    return last.length > 0 ? [last] : [];
  }
}
