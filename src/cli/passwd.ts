/**
 * `mosquitto_passwd`: creates and edits Mosquitto password files, with Mosquitto 2.0.22's
 * options, messages (usage on stdout, errors on stderr) and exit codes.
 *
 *   mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
 *   mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
 *   mosquitto_passwd -U passwordfile
 *
 * Files are bytes: lines other than the one being changed are written back exactly as
 * read. Unlike Mosquitto, comment lines (`#` first) and blank lines, which the broker
 * accepts, are kept instead of ending the file at that point, and a last line without a
 * newline gets one before a user is appended (Mosquitto glues the new user onto it). A
 * file that is really corrupt is left untouched with Mosquitto's error. See DEVIATIONS.md.
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  realpathSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { DEFAULT_PBKDF2_ITERATIONS, HashType } from '../common/password.ts';
import { restrictedFileWarnings } from '../common/restricted-file.ts';
import { deleteUser, hashPlainFile, passwordLine, setUser } from './passwd-lines.ts';
import { cString, promptPassword } from './passwd-prompt.ts';

const USAGE =
  'mosquitto_passwd is a tool for managing password files for mosquitto.\n\n' +
  'Usage: mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username\n' +
  '       mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password\n' +
  '       mosquitto_passwd -U passwordfile\n' +
  ' -b : run in batch mode to allow passing passwords on the command line.\n' +
  ' -c : create a new password file. This will overwrite existing files.\n' +
  ' -D : delete the username rather than adding/updating its password.\n' +
  ' -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.\n' +
  '      Mosquitto 1.6 and earlier defaulted to sha512.\n' +
  ' -U : update a plain text password file to use hashed passwords.\n' +
  '\nSee https://mosquitto.org/ for more information.\n\n';

/** strerror() for the errors file operations here can meet. */
const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
  EEXIST: 'File exists',
  ETXTBSY: 'Text file busy',
  EINVAL: 'Invalid argument',
  EIO: 'Input/output error',
};

function strerror(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in STRERROR) return STRERROR[code] ?? code;
  return error instanceof Error ? error.message : String(error);
}

function out(text: string): void {
  process.stdout.write(text);
}

function err(text: string): void {
  process.stderr.write(text);
}

interface Options {
  hashType: HashType;
  iterations: number;
  batch: boolean;
  create: boolean;
  delete: boolean;
  update: boolean;
}

/** Entry point of `mosquitto_passwd`; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0) {
    out(USAGE);
    return 1;
  }
  const options: Options = {
    hashType: HashType.Sha512Pbkdf2,
    iterations: DEFAULT_PBKDF2_ITERATIONS,
    batch: false,
    create: false,
    delete: false,
    update: false,
  };
  // Options come first; the first other word starts the positional arguments.
  let idx = 0;
  for (; idx < argv.length; idx++) {
    const arg = argv[idx];
    if (arg === '-H') {
      const value = argv[idx + 1];
      if (value === undefined) {
        err('Error: -H argument given but not enough other arguments.\n');
        return 1;
      }
      if (value === 'sha512') options.hashType = HashType.Sha512;
      else if (value === 'sha512-pbkdf2') options.hashType = HashType.Sha512Pbkdf2;
      else {
        err(`Error: Unknown hash type '${value}'\n`);
        return 1;
      }
      idx++;
    } else if (arg === '-b') {
      options.batch = true;
    } else if (arg === '-c') {
      options.create = true;
    } else if (arg === '-D') {
      options.delete = true;
    } else if (arg === '-I') {
      const value = argv[idx + 1];
      if (value === undefined) {
        err('Error: -I argument given but not enough other arguments.\n');
        return 1;
      }
      options.iterations = atoi(value);
      idx++;
      if (options.iterations < 1) {
        err('Error: Number of iterations must be > 0.\n');
        return 1;
      }
    } else if (arg === '-U') {
      options.update = true;
    } else {
      break;
    }
  }

  const conflict = conflictingOptions(options);
  if (conflict !== null) {
    err(`Error: ${conflict} cannot be used together.\n`);
    return 1;
  }
  const rest = argv.slice(idx);
  const positional = positionalArguments(options, rest);
  if (typeof positional === 'string') {
    if (positional === 'usage') out(USAGE);
    else err(positional);
    return 1;
  }
  const { file, username, password: passwordArg } = positional;

  if (username !== null) {
    const problem = usernameProblem(Buffer.from(username, 'utf8'));
    if (problem !== null) {
      err(`Error: ${problem}\n`);
      return 1;
    }
  }
  if (passwordArg !== null && Buffer.byteLength(passwordArg, 'utf8') > 65535) {
    err('Error: Password must be less than 65536 characters long.\n');
    return 1;
  }

  let path: string;
  try {
    path = realpathSync.native(file);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') {
      err(`Error reading password file: ${strerror(error)}\n`);
      return 1;
    }
    path = file;
  }

  if (options.create) return createFile(path, username ?? '', passwordArg, options);
  return editFile(path, username, passwordArg, options);
}

function conflictingOptions(options: Options): string | null {
  if (options.create && options.delete) return '-c and -D';
  if (options.create && options.update) return '-c and -U';
  if (options.delete && options.update) return '-D and -U';
  if (options.delete && options.batch) return '-b and -D';
  return null;
}

interface Positional {
  readonly file: string;
  readonly username: string | null;
  readonly password: string | null;
}

/** The file, username and password, or 'usage', or an error line. */
function positionalArguments(options: Options, rest: readonly string[]): Positional | string {
  const [first, second, third] = rest;
  if (options.create) {
    if (options.batch) {
      if (first === undefined || second === undefined || third === undefined) {
        return 'Error: -c argument given but password file, username, or password missing.\n';
      }
      return { file: first, username: second, password: third };
    }
    if (first === undefined || second === undefined) {
      return 'Error: -c argument given but password file or username missing.\n';
    }
    return { file: first, username: second, password: null };
  }
  if (options.delete) {
    if (first === undefined || second === undefined) {
      return 'Error: -D argument given but password file or username missing.\n';
    }
    return { file: first, username: second, password: null };
  }
  if (options.update) {
    if (first === undefined || rest.length !== 1) {
      return 'Error: -U argument given but password file missing.\n';
    }
    return { file: first, username: null, password: null };
  }
  if (options.batch && rest.length === 3 && first !== undefined && second !== undefined) {
    return { file: first, username: second, password: third ?? '' };
  }
  if (!options.batch && rest.length === 2 && first !== undefined && second !== undefined) {
    return { file: first, username: second, password: null };
  }
  return 'usage';
}

/** is_username_valid(): the reason a username is refused, or null. */
function usernameProblem(bytes: Buffer): string | null {
  if (bytes.length > 65535) return 'Username must be less than 65536 characters long.';
  for (const byte of bytes) {
    if (byte < 0x20 || byte === 0x7f) return 'Username must not contain control characters.';
  }
  if (bytes.includes(0x3a)) return "Username must not contain the ':' character.";
  return null;
}

/** -c: a new file holding only this user (mode 0600 when created). */
async function createFile(
  path: string,
  username: string,
  passwordArg: string | null,
  options: Options,
): Promise<number> {
  let password: Buffer;
  if (passwordArg === null) {
    const prompted = await promptPassword();
    if (typeof prompted === 'number') return prompted;
    password = prompted;
  } else {
    password = cString(Buffer.from(passwordArg, 'utf8'));
  }
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o600);
  } catch (error) {
    err(`Error: Unable to open file ${path} for writing. ${strerror(error)}.\n`);
    return 1;
  }
  try {
    warnAboutFile(path, fd);
    writeSync(fd, passwordLine(binary(username), password, options.hashType, options.iterations));
  } finally {
    closeSync(fd);
  }
  return 0;
}

/** Update, -D and -U: the file is rewritten in place (a backup exists meanwhile). */
async function editFile(
  path: string,
  username: string | null,
  passwordArg: string | null,
  options: Options,
): Promise<number> {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (error) {
    err(`Error: Unable to open password file ${path}. ${strerror(error)}.\n`);
    return 1;
  }
  try {
    warnAboutFile(path, fd);
    const original = readFileSync(fd);
    const backup = createBackup(path, original);
    if (backup === null) return 1;
    let result: Buffer | number;
    if (options.delete) {
      result = deleteUser(original, binary(username ?? ''));
    } else if (options.update) {
      result = hashPlainFile(original, options.hashType);
    } else {
      let password: Buffer;
      if (passwordArg === null) {
        const prompted = await promptPassword();
        if (typeof prompted === 'number') {
          unlinkQuietly(backup);
          return prompted;
        }
        password = prompted;
      } else {
        password = cString(Buffer.from(passwordArg, 'utf8'));
      }
      result = setUser(
        original,
        binary(username ?? ''),
        password,
        options.hashType,
        options.iterations,
      );
    }
    if (typeof result === 'number') {
      unlinkQuietly(backup);
      return result;
    }
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, result, 0, result.length, 0);
    } catch {
      err('Error occurred updating password file.\n');
      err(`Password file may be corrupt, check the backup file: ${backup}.\n`);
      return 1;
    }
    // The backup may hold old passwords: it goes once the file is safely written.
    unlinkQuietly(backup);
    return 0;
  } finally {
    closeSync(fd);
  }
}

/** Mosquitto 2.0.16+ warns (without a final newline) about files others may read. */
function warnAboutFile(path: string, fd: number): void {
  for (const warning of restrictedFileWarnings(path, fstatSync(fd))) err(warning);
}

/** `<file>.backup.XXXXXX`, mode 0600, as mkstemp() makes it; null after the error line. */
function createBackup(path: string, content: Buffer): string | null {
  const template = `${path}.backup.XXXXXX`;
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  for (let attempt = 0; attempt < 100; attempt++) {
    const suffix = Array.from(randomBytes(6), (byte) => letters[byte % letters.length]).join('');
    const name = `${path}.backup.${suffix}`;
    let fd: number;
    try {
      fd = openSync(name, 'wx', 0o600);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EEXIST') continue;
      break;
    }
    try {
      writeSync(fd, content);
    } catch {
      closeSync(fd);
      err(`Error copying data to backup password file "${name}", not continuing.\n`);
      return null;
    }
    closeSync(fd);
    return name;
  }
  err(`Error creating backup password file "${template}", not continuing.\n`);
  return null;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** A JS string's UTF-8 bytes as a binary string (one char per byte). */
function binary(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** atoi() on glibc: strtol() (clamped to a long) truncated to an int; 0 without digits. */
function atoi(text: string): number {
  const match = /^[\t\n\v\f\r ]*([+-]?)(\d+)/.exec(text);
  if (match === null) return 0;
  let value = BigInt(match[2] ?? '0');
  if (match[1] === '-') value = -value;
  const longMax = (1n << 63n) - 1n;
  if (value > longMax) value = longMax;
  if (value < -longMax - 1n) value = -longMax - 1n;
  return Number(BigInt.asIntN(32, value));
}
