/**
 * A strict parser of the Prometheus text format (0.0.4), written for the tests so the exposition
 * is checked by something other than the code that wrote it. Throws on any malformed line, on a
 * sample whose family has no TYPE line before it, and on a TYPE line given twice.
 */
export interface PromSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface ParsedExposition {
  readonly help: Map<string, string>;
  readonly types: Map<string, string>;
  readonly samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseLabels(text: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // after '{'
  while (text[i] !== '}') {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i));
    if (!m) throw new Error(`bad label in: ${line}`);
    i += m[0].length;
    let value = '';
    for (;;) {
      const c = text[i++];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        if (e === 'n') value += '\n';
        else if (e === '\\' || e === '"') value += e;
        else throw new Error(`bad escape \\${e} in: ${line}`);
      } else value += c;
    }
    if (m[1]! in labels) throw new Error(`duplicate label ${m[1]} in: ${line}`);
    labels[m[1]!] = value;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`expected , or } in: ${line}`);
  }
  return { labels, rest: text.slice(i + 1) };
}

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`bad value in: ${line}`);
  return v;
}

/** Parses an exposition; see the file comment for what is refused. */
export function parsePrometheus(text: string): ParsedExposition {
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  if (!text.endsWith('\n')) throw new Error('exposition must end with a line feed');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) continue; // other comments are allowed
      if (m[1] === 'HELP') help.set(m[2]!, m[3]!);
      else {
        if (types.has(m[2]!)) throw new Error(`second TYPE line for ${m[2]}`);
        if (!['counter', 'gauge', 'summary', 'histogram', 'untyped'].includes(m[3]!)) throw new Error(`bad type in: ${line}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    if (line.trim() === '') continue;
    const nm = NAME.exec(line);
    if (!nm) throw new Error(`bad metric name in: ${line}`);
    const name = nm[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2) throw new Error(`bad sample in: ${line}`);
    const family = types.has(name) ? name : name.replace(/_(sum|count|bucket)$/, '');
    if (!types.has(family)) throw new Error(`sample ${name} has no TYPE line before it`);
    samples.push({ name, labels, value: parseValue(parts[0]!, line) });
  }
  return { help, types, samples };
}
