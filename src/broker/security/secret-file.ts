/**
 * Reading a file that holds secrets the way Mosquitto's broker does (mosquitto__fopen with
 * restrict_read): warnings when others may read it or it belongs to someone else, an error
 * for anything that is not a regular file, and the bytes, read synchronously (start-up and
 * SIGHUP only, as in Mosquitto).
 */
import { Buffer } from 'node:buffer';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { restrictedFileWarnings } from '../../common/restricted-file.ts';
import type { BrokerLog } from '../broker-log.ts';

/** The file's bytes, or null when it cannot be opened or is not a regular file (logged). */
export function readSecretFile(path: string, log: BrokerLog): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const stats = fstatSync(fd);
    for (const warning of restrictedFileWarnings(path, stats)) log.warning(warning);
    if (!stats.isFile()) {
      log.error(`Error: ${path} is not a file.`);
      return null;
    }
    return readFileSync(fd);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The lines of a text file as fgets() returns them, each with its '\n' (the last one may
 * lack it), as binary strings (one char per byte) so that no byte is lost or reinterpreted.
 * Like C strings, a line ends at its first NUL byte.
 */
export function fileLines(content: Buffer): string[] {
  const text = content.toString('latin1');
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    end = end === -1 ? text.length : end + 1;
    const line = text.slice(start, end);
    const nul = line.indexOf('\0');
    lines.push(nul === -1 ? line : line.slice(0, nul));
    start = end;
  }
  return lines;
}

/** C's isspace() in the "C" locale. */
export function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/** Mosquitto's misc__trimblanks(): leading and trailing isspace() characters removed. */
export function trimBlanks(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** strtok() over a whole string: the non-empty pieces between `delimiter` characters. */
export function strtokAll(text: string, delimiter: string): string[] {
  return text.split(delimiter).filter((piece) => piece !== '');
}

/** A binary string (one char per byte) as UTF-8 text, or null when it is not valid UTF-8. */
export function utf8FromBinary(binary: string): string | null {
  const bytes = Buffer.from(binary, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : null;
}

/** A binary string (one char per byte) as text for a log line. */
export function printable(binary: string): string {
  return Buffer.from(binary, 'latin1').toString('utf8');
}
