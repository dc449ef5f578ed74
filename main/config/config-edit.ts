/**
 * Edits `configs/deploy_config.yaml` the way a person would: the keys given change in place,
 * every other key, comment and blank line stays as written. The edited text is validated by the
 * same schema as the file on load (parseDeployConfig), so the GUI can never write a file the
 * agent would then refuse.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Document, isMap, isNode, parseDocument } from 'yaml';
import { FramewormError } from '../common/errors.js';
import { CONFIG_RELATIVE_PATH, parseDeployConfig, type LoadedConfig } from './deploy-config.js';

/** A key of the `deploy:` section and its new value; `undefined` removes the key (back to its default). */
export type ConfigChanges = Readonly<Record<string, unknown>>;

/**
 * The file's text with `changes` applied under `deploy:`, and the config it parses to.
 * `text` null (no file yet) starts from an empty `deploy:` mapping. Throws E_CONFIG, naming the
 * key and the accepted form, when the result would not validate.
 */
export function editDeployConfigText(text: string | null, changes: ConfigChanges): { text: string; loaded: LoadedConfig } {
  const parsed = parseDocument(text ?? '');
  if (parsed.errors.length > 0) {
    throw new FramewormError('E_CONFIG', `${CONFIG_RELATIVE_PATH} cannot be parsed as YAML, so it cannot be edited: fix it by hand first (${parsed.errors[0]?.message.split('\n')[0] ?? ''})`);
  }
  // An empty (or comments-only) file has no mapping to edit: start one.
  const doc: Document = isMap(parsed.contents) ? parsed : new Document({ deploy: {} });
  if (!isMap(doc.get('deploy'))) doc.set('deploy', doc.createNode({}));
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) doc.deleteIn(['deploy', key]);
    else if (!Array.isArray(value)) doc.setIn(['deploy', key], value); // a scalar node keeps its comments
    else {
      // A list is a new node: carry the old one's comments over, and write it in flow style as people do.
      const old: unknown = doc.getIn(['deploy', key], true);
      const node = doc.createNode(value, { flow: true });
      if (isNode(old)) {
        node.comment = old.comment;
        node.commentBefore = old.commentBefore;
      }
      doc.setIn(['deploy', key], node);
    }
  }
  const next = doc.toString();
  return { text: next, loaded: parseDeployConfig(next, CONFIG_RELATIVE_PATH) };
}

/**
 * Applies `changes` to the workspace's config file: validated first, then written to a
 * temporary file and renamed over the old one, so a reader (the agent's reload poll) never sees
 * half a file.
 */
export function editDeployConfigFile(workspaceRoot: string, changes: ConfigChanges): LoadedConfig {
  const file = path.join(workspaceRoot, CONFIG_RELATIVE_PATH);
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new FramewormError('E_CONFIG', `${CONFIG_RELATIVE_PATH} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const edited = editDeployConfigText(text, changes);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, edited.text);
  fs.renameSync(tmp, file);
  return edited.loaded;
}
