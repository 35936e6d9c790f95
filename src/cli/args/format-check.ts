/**
 * Validation of a `-F` format string at start-up (client_shared.c check_format): every
 * `%` must be followed by optional flags (`0` or `-`), width, `.precision` and a known
 * code; every `@` by a character; every `\` by a known escape. Returns the exact error
 * line, or null.
 */

const PERCENT_CODES = new Set([
  '%',
  'A',
  'C',
  'D',
  'E',
  'F',
  'I',
  'l',
  'm',
  'P',
  'p',
  'q',
  'R',
  'S',
  'r',
  't',
  'j',
  'J',
  'U',
  'x',
  'X',
]);
const ESCAPES = new Set(['\\', '0', 'a', 'e', 'n', 'r', 't', 'v']);

const INCOMPLETE = 'Error: Incomplete format specifier.\n';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

export function checkFormat(format: string): string | null {
  const len = format.length;
  for (let i = 0; i < len; i++) {
    const c = format[i];
    if (c === '%') {
      if (i === len - 1) return INCOMPLETE;
      if (format[i + 1] === '0' || format[i + 1] === '-') {
        i++;
        if (i === len - 1) return INCOMPLETE;
      }
      while (isDigit(format[i + 1])) {
        i++;
        if (i === len - 1) return INCOMPLETE;
      }
      if (format[i + 1] === '.') {
        i++;
        if (i === len - 1) return INCOMPLETE;
        while (isDigit(format[i + 1])) {
          i++;
          if (i === len - 1) return INCOMPLETE;
        }
      }
      const code = format[i + 1] ?? '';
      if (!PERCENT_CODES.has(code)) return `Error: Invalid format specifier '${code}'.\n`;
      i++;
    } else if (c === '@') {
      if (i === len - 1) return INCOMPLETE;
      i++;
    } else if (c === '\\') {
      if (i === len - 1) return 'Error: Incomplete escape specifier.\n';
      const code = format[i + 1] ?? '';
      if (!ESCAPES.has(code)) return `Error: Invalid escape specifier '${code}'.\n`;
      i++;
    }
  }
  return null;
}
