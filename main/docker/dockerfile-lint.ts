/**
 * A small lint for the generated Dockerfile and docker-compose.yml (not a general linter):
 * the rules the docker target relies on for safety, reproducibility and offline builds.
 */

export interface LintFinding {
  readonly rule: string;
  readonly line: number;
  readonly message: string;
}

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}

/** Joins `\` continuations, drops comments and blank lines. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let cur = lines[i] ?? '';
    if (/^\s*#/.test(cur) || !cur.trim()) continue;
    while (/\\\s*$/.test(cur) && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? '';
      if (/^\s*#/.test(next)) continue;
      cur = cur.replace(/\\\s*$/, ' ') + next;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(cur);
    if (m) out.push({ op: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim(), line: start + 1 });
  }
  return out;
}

export function lintDockerfile(text: string): LintFinding[] {
  const found: LintFinding[] = [];
  const ins = instructions(text);
  const add = (rule: string, line: number, message: string): void => void found.push({ rule, line, message });
  const globalArgs = new Map<string, string | null>();
  let seenFrom = false;
  let lastUser: { user: string; line: number } | null = null;
  let userBeforeCmd = false;
  let cmd: Instruction | null = null;
  let healthcheck = false;
  for (const i of ins) {
    if (i.op === 'ARG' && !seenFrom) {
      const [k, v] = i.args.split('=', 2);
      if (k) globalArgs.set(k.trim(), v ?? null);
    }
    if (i.op === 'FROM') {
      seenFrom = true;
      lastUser = null;
      const image = i.args.split(/\s+/).find((w) => !w.startsWith('--')) ?? '';
      const isStage = ins.some((j) => j.op === 'FROM' && j.line < i.line && new RegExp(`\\bAS\\s+${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'i').test(j.args));
      if (!isStage && !/^\$\{?BASE_IMAGE\}?$/.test(image)) add('from-arg', i.line, `FROM ${image} must use the BASE_IMAGE build argument`);
      if (/^\$\{?BASE_IMAGE\}?$/.test(image)) {
        if (!globalArgs.has('BASE_IMAGE')) add('from-arg', i.line, 'ARG BASE_IMAGE must be declared before FROM');
        const def = globalArgs.get('BASE_IMAGE');
        if (def && (/:latest$/.test(def) || !/[:@]/.test(def))) add('no-latest', i.line, `default base image ${def} must carry an exact tag, not latest`);
      } else if (!isStage && (/:latest$/.test(image) || !/[:@]/.test(image))) add('no-latest', i.line, `${image} must carry an exact tag, not latest`);
    }
    if (i.op === 'USER') lastUser = { user: i.args, line: i.line };
    if (i.op === 'CMD' || i.op === 'ENTRYPOINT') {
      cmd = i;
      userBeforeCmd = lastUser !== null && !/^(root|0)(:|$)/.test(lastUser.user);
    }
    if (i.op === 'HEALTHCHECK' && !/^NONE$/i.test(i.args)) {
      healthcheck = true;
      if (!/\/ready\b/.test(i.args)) add('healthcheck', i.line, 'HEALTHCHECK must probe the server\'s /ready');
      if (/\bcurl\b|\bwget\b/.test(i.args)) add('healthcheck', i.line, 'HEALTHCHECK must not depend on curl/wget (use python urllib)');
    }
    if (i.op === 'ADD' && /(https?|ftp):\/\//i.test(i.args)) add('no-add-url', i.line, 'ADD of a URL: download in a RUN with a checksum, or COPY');
    if (i.op === 'RUN' && /\bapt-get\b/.test(i.args)) {
      const updates = i.args.match(/apt-get\s+update[^&;|]*/g) ?? [];
      if (/apt-get\s+(-\S+\s+)*install/.test(i.args) && updates.length === 0) add('apt-update', i.line, 'apt-get install without apt-get update --error-on=any in the same RUN');
      for (const u of updates) if (!/--error-on=any/.test(u)) add('apt-update', i.line, 'apt-get update must use --error-on=any (offline it only warns)');
    }
    if (i.op === 'RUN' && /\b(curl|wget)\b[^|]*\|\s*(ba|z)?sh\b/.test(i.args)) add('no-pipe-sh', i.line, 'piping a download into a shell');
  }
  if (!ins.some((i) => i.op === 'FROM')) add('from-arg', 1, 'no FROM');
  if (!cmd) add('cmd', ins.length ? (ins[ins.length - 1]?.line ?? 1) : 1, 'no CMD');
  else if (!userBeforeCmd) add('non-root', cmd.line, 'the final stage must switch to a non-root USER before CMD');
  if (!healthcheck) add('healthcheck', 1, 'no HEALTHCHECK');
  return found;
}

/** Line-based checks of the generated docker-compose.yml (the generator's own layout). */
export function lintCompose(text: string): LintFinding[] {
  const found: LintFinding[] = [];
  const lines = text.split('\n');
  const add = (rule: string, line: number, message: string): void => void found.push({ rule, line, message });
  let inPorts = false;
  let portIndent = -1;
  let ports = 0;
  lines.forEach((raw, idx) => {
    const line = raw.replace(/\s+#.*$/, '');
    const indent = line.length - line.trimStart().length;
    if (/^\s*ports:\s*$/.test(line)) {
      inPorts = true;
      portIndent = indent;
      return;
    }
    if (inPorts) {
      if (line.trim() && indent <= portIndent && !line.trimStart().startsWith('-')) inPorts = false;
      else if (/^\s*-\s*/.test(line)) {
        ports++;
        const spec = line.replace(/^\s*-\s*/, '').replace(/["']/g, '').trim();
        if (!/^127\.0\.0\.1:\d+:\d+(\/tcp)?$/.test(spec)) add('ports-localhost', idx + 1, `port ${spec} must be published on 127.0.0.1 only`);
      }
    }
    if (/^\s*network_mode:\s*["']?host/.test(line)) add('ports-localhost', idx + 1, 'network_mode: host bypasses the 127.0.0.1 publish');
    if (/^\s*privileged:\s*true/.test(line)) add('privileged', idx + 1, 'privileged containers are not allowed');
  });
  const has = (re: RegExp): boolean => re.test(text);
  if (ports === 0) add('ports-localhost', 1, 'no published port');
  if (!has(/^\s*healthcheck:\s*$/m) || !has(/\/ready/)) add('healthcheck', 1, 'no healthcheck against /ready');
  if (!has(/^\s*restart:\s*["']?(unless-stopped|always|on-failure)/m)) add('restart', 1, 'no restart policy');
  if (!has(/^\s*driver:\s*["']?json-file/m) || !has(/max-size:/) || !has(/max-file:/)) add('logging', 1, 'logging must be json-file with max-size and max-file rotation');
  if (!has(/^\s*read_only:\s*true/m)) add('read-only', 1, 'read_only: true missing');
  if (!has(/^\s*tmpfs:/m)) add('read-only', 1, 'tmpfs for /tmp missing');
  if (!has(/cap_drop:\s*\n\s*-\s*["']?ALL/)) add('cap-drop', 1, 'cap_drop: [ALL] missing');
  if (!has(/no-new-privileges(:true)?/)) add('no-new-privileges', 1, 'security_opt no-new-privileges missing');
  if (!has(/^\s*pids_limit:\s*[1-9]\d*\s*$/m)) add('pids-limit', 1, 'pids_limit missing (a fork bomb in the container would exhaust the host)');
  return found;
}
