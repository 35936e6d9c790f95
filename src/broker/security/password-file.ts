/**
 * The broker's reading of `password_file` (security_default.c pwfile__parse and
 * unpwd__decode_passwords), rule for rule:
 *
 * - A line whose first byte is `#`, or that has no `:`, is ignored (so are blank lines).
 * - The username is the first `:`-separated piece and the hash the second (strtok: empty
 *   pieces are skipped, anything after the second is ignored); both are trimmed of
 *   isspace() characters, so CRLF files work.
 * - A username or hash over 65535 bytes, or a line with no hash piece, is skipped with a
 *   notice; a hash that is not `$6$salt$hash` or `$7$iterations$salt$hash` with a 12-byte
 *   salt and a 64-byte hash is dropped with an error line naming the user.
 * - When a username appears twice, the last line that survives decoding wins.
 */
import { Buffer } from 'node:buffer';
import type { PasswordHash } from '../../common/password.ts';
import { HASH_BYTES, HashType, SALT_BYTES } from '../../common/password.ts';
import type { BrokerLog } from '../broker-log.ts';
import {
  fileLines,
  printable,
  readSecretFile,
  strtokAll,
  trimBlanks,
  utf8FromBinary,
} from './secret-file.ts';

/** Username -> hash. Usernames that are not valid UTF-8 can never log in and are left out. */
export type PasswordTable = ReadonlyMap<string, PasswordHash>;

const MAX_FIELD_BYTES = 65535;

/** The hash of the table's first user (what an unknown username's decoy costs as). */
export function firstPasswordHash(table: PasswordTable): PasswordHash | undefined {
  for (const hash of table.values()) return hash;
  return undefined;
}

interface RawEntry {
  /** Binary string (one char per byte). */
  readonly username: string;
  readonly password: string;
}

/** Parses a password file's bytes, logging what Mosquitto logs for bad lines. */
export function parsePasswordFile(content: Buffer, path: string, log: BrokerLog): PasswordTable {
  const raw: RawEntry[] = [];
  for (const line of fileLines(content)) {
    if (line.startsWith('#') || !line.includes(':')) continue;
    const tokens = strtokAll(line, ':');
    const usernameToken = tokens[0];
    if (usernameToken === undefined) continue;
    const username = trimBlanks(usernameToken);
    if (username.length > MAX_FIELD_BYTES) {
      log.notice(`Warning: Invalid line in password file '${path}', username too long.`);
      continue;
    }
    const passwordToken = tokens[1];
    if (passwordToken === undefined) {
      log.notice(
        `Warning: Invalid line in password file '${path}': ${printable(invalidLineText(line, usernameToken, username))}`,
      );
      continue;
    }
    const password = trimBlanks(passwordToken);
    if (password.length > MAX_FIELD_BYTES) {
      log.notice(`Warning: Invalid line in password file '${path}', password too long.`);
      continue;
    }
    raw.push({ username, password });
  }

  const table = new Map<string, PasswordHash>();
  for (const entry of raw) {
    const hash = decodeHash(entry, log);
    if (hash === null) continue;
    const username = utf8FromBinary(entry.username);
    if (username === null) continue;
    // Mosquitto's hash table finds the entry added last.
    table.delete(username);
    table.set(username, hash);
  }
  return table;
}

/**
 * What Mosquitto prints for a line without a hash: its buffer after strtok() and the trim
 * wrote NULs into it, i.e. the line up to the end of the trimmed username.
 */
function invalidLineText(line: string, usernameToken: string, username: string): string {
  const tokenStart = line.indexOf(usernameToken);
  if (username === '') return line.slice(0, tokenStart + usernameToken.length);
  const usernameStart = line.indexOf(username, tokenStart);
  return line.slice(0, usernameStart + username.length);
}

/** unpwd__decode_passwords() for one entry: the hash, or null with Mosquitto's error line. */
function decodeHash(entry: RawEntry, log: BrokerLog): PasswordHash | null {
  const user = printable(entry.username);
  const invalid = (what: string): null => {
    log.error(`Error: ${what} for user ${user}, removing entry.`);
    return null;
  };
  const tokens = strtokAll(entry.password, '$');
  let next = 0;
  const typeToken = tokens[next++];
  if (typeToken === undefined) return invalid('Invalid password hash');
  let type: HashType;
  if (typeToken === '6') type = HashType.Sha512;
  else if (typeToken === '7') type = HashType.Sha512Pbkdf2;
  else return invalid('Invalid password hash type');

  let iterations = 0;
  if (type === HashType.Sha512Pbkdf2) {
    const iterationsToken = tokens[next++];
    if (iterationsToken === undefined) return invalid('Invalid password hash');
    iterations = atoi(iterationsToken);
    if (iterations < 1) return invalid('Invalid hash iterations');
  }
  const saltToken = tokens[next++];
  if (saltToken === undefined) return invalid('Invalid password hash');
  const salt = decodeBase64(saltToken);
  if (salt?.length !== SALT_BYTES) return invalid('Unable to decode password salt');
  const hashToken = tokens[next];
  if (hashToken === undefined) return invalid('Invalid password hash');
  const hash = decodeBase64(hashToken);
  if (hash?.length !== HASH_BYTES) return invalid('Unable to decode password');
  return { type, iterations, salt, hash };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard base64 with padding, as OpenSSL's decoder accepts it; null when malformed. */
function decodeBase64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return null;
  return Buffer.from(text, 'base64');
}

/** C's atoi() on glibc: strtol() clamped to a long, then truncated to an int. */
export function atoi(text: string): number {
  const match = /^[\t\n\v\f\r ]*([+-]?)(\d*)/.exec(text);
  const digits = match?.[2] ?? '';
  if (digits === '') return 0;
  let value = BigInt(digits);
  if (match?.[1] === '-') value = -value;
  const longMax = (1n << 63n) - 1n;
  if (value > longMax) value = longMax;
  if (value < -longMax - 1n) value = -longMax - 1n;
  return Number(BigInt.asIntN(32, value));
}

/** Reads and parses a password file; null (with Mosquitto's error line) when unreadable. */
export function loadPasswordFile(path: string, log: BrokerLog): PasswordTable | null {
  const content = readSecretFile(path, log);
  if (content === null) {
    log.error(`Error: Unable to open pwfile "${path}".`);
    return null;
  }
  return parsePasswordFile(content, path, log);
}
