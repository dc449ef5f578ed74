/**
 * Cuts a text stream into lines for the JSON-lines protocols (agent RPC, Python exporter):
 * `push` each chunk, `end` once the stream closes to deliver a last unterminated line.
 */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; end(): void } {
  let buffered = '';
  return {
    push(chunk) {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    },
    end() {
      if (buffered) onLine(buffered);
      buffered = '';
    },
  };
}
