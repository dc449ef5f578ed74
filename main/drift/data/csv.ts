/**
 * Numeric CSV files: one sample a line, comma-separated numbers, an optional header row.
 *
 * A first line with any cell that is not a number is the header. Quoted fields and other
 * separators are not read: drift data is a matrix of numbers, and a file that is not one should
 * fail with the line and column at fault rather than be guessed at.
 */
import { FramewormError } from '../../common/errors.js';
import type { NumericArray } from './numeric-array.js';

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses CSV text into an (N, D) array named `name`. */
export function parseCsv(text: string, label: string, name: string): NumericArray & { readonly header: readonly string[] | null } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0) throw new FramewormError('E_INPUT', `${label} is empty`);
  const split = (line: string): string[] => line.split(',').map((c) => c.trim());
  let header: string[] | null = null;
  let first = 0;
  const head = split(lines[0]!);
  if (head.some((c) => !NUMBER.test(c))) {
    header = head;
    first = 1;
  }
  const width = head.length;
  const rows = lines.length - first;
  if (rows === 0) throw new FramewormError('E_INPUT', `${label} has a header but no data rows`);
  const data = new Float64Array(rows * width);
  let allIntegers = true;
  for (let r = 0; r < rows; r++) {
    const lineNo = first + r + 1;
    const cells = split(lines[first + r]!);
    if (cells.length !== width) {
      throw new FramewormError('E_INPUT', `${label} line ${lineNo} has ${cells.length} columns, the first line has ${width}`);
    }
    for (let c = 0; c < width; c++) {
      const cell = cells[c]!;
      if (!NUMBER.test(cell)) {
        throw new FramewormError('E_INPUT', `${label} line ${lineNo}, column ${c + 1}: ${JSON.stringify(cell.slice(0, 40))} is not a finite number`);
      }
      const v = Number(cell);
      if (!Number.isFinite(v)) throw new FramewormError('E_INPUT', `${label} line ${lineNo}, column ${c + 1}: ${cell} is out of range`);
      if (!Number.isInteger(v) || cell.includes('.') || /e/i.test(cell)) allIntegers = false;
      data[r * width + c] = v;
    }
  }
  return { name, dims: [rows, width], data, kind: allIntegers ? 'int' : 'float', header };
}
