/**
 * `psk_file` (features §5.3): `identity:hexkey` lines, read the way Mosquitto reads its
 * password file (pwfile__parse): a line starting with '#' is a comment, a line without
 * ':' is skipped, the first two ':'-separated fields (empty fields skipped, as strtok
 * does) are the identity and the key, both trimmed. A line with no key is skipped with a
 * warning; a key that is not hex digits is fatal. The first line of an identity wins.
 * A missing file exits with 13 and a bad key with 3, as Mosquitto's security init does.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';

/** A psk_file that cannot be used; `lines` are Mosquitto's log lines, `exitCode` its. */
export class PskFileError extends Error {
  override readonly name = 'PskFileError';
  constructor(
    readonly lines: readonly string[],
    readonly exitCode: number,
  ) {
    super(lines.join('\n'));
  }
}

export interface PskFile {
  readonly keys: ReadonlyMap<string, Buffer>;
  /** Notices about skipped lines. */
  readonly warnings: readonly string[];
}

const HEX = /^[0-9a-fA-F]*$/;

/** isspace() trimming, as misc__trimblanks. */
function trimBlanks(text: string): string {
  return text.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
}

/**
 * The key bytes of a hex string as libmosquitto's hex2bin makes them: leading "00" pairs
 * are kept as zero bytes and the rest is read as a big number, so an odd number of
 * digits gets a leading zero nibble ("abc" is 0a bc).
 */
export function pskKeyBytes(hex: string): Buffer {
  return Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex');
}

export function readPskFile(path: string): PskFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new PskFileError(
      [`Error: Unable to open pwfile "${path}".`, `Error opening psk file "${path}".`],
      13,
    );
  }
  const keys = new Map<string, Buffer>();
  const warnings: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.includes(':')) continue;
    const fields = line.split(':').filter((field) => field !== '');
    const first = fields[0];
    if (first === undefined) continue;
    const identity = trimBlanks(first);
    const second = fields[1];
    if (second === undefined) {
      warnings.push(`Warning: Invalid line in password file '${path}': ${line}`);
      continue;
    }
    // A blank key passes Mosquitto's checks; it just never matches a client's key.
    const key = trimBlanks(second);
    if (!HEX.test(key)) {
      throw new PskFileError(
        [
          `Error: psk for identity "${identity}" contains non-hexadecimal characters.`,
          `Error opening psk file "${path}".`,
        ],
        3,
      );
    }
    if (!keys.has(identity)) keys.set(identity, pskKeyBytes(key));
  }
  return { keys, warnings };
}
