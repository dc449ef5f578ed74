/**
 * Makes text taken from a user's file safe to put in a one-line message: a hostile checkpoint
 * can name a "module" or a ZIP entry with terminal escape sequences or newlines, and error
 * messages are printed to terminals and written to logs.
 */

const MAX_LENGTH = 120;

/** `text` with control characters replaced by `?` and cut to a readable length. */
export function printable(text: string, maxLength = MAX_LENGTH): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '?');
  return clean.length > maxLength ? `${clean.slice(0, maxLength - 1)}…` : clean;
}
