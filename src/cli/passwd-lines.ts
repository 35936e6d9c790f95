/**
 * The lines of a password file as mosquitto_passwd edits them (pwfile_iterate and its
 * callbacks), on bytes: every line but the ones changed is written back exactly as read.
 * Comments and blank lines are kept (Mosquitto calls them corrupt and, when adding a user,
 * cuts the file there); any other line without a username and a password is corrupt, and
 * the file is then left as it is.
 */
import { Buffer } from 'node:buffer';
import { DEFAULT_PBKDF2_ITERATIONS, formatPasswordHash, hashPassword } from '../common/password.ts';
import type { HashType } from '../common/password.ts';

function err(text: string): void {
  process.stderr.write(text);
}

/** One line of a password file as read (binary string, with its '\n' if it had one). */
export type FileLine =
  | { readonly kind: 'keep'; readonly text: string }
  | { readonly kind: 'corrupt'; readonly text: string }
  | {
      readonly kind: 'entry';
      readonly text: string;
      readonly username: string;
      readonly password: string;
    };

function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function trimBlanks(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** pwfile_iterate()'s reading of a line, except that comments and blank lines are kept. */
export function classify(text: string): FileLine {
  if (text.startsWith('#') || trimBlanks(text) === '') return { kind: 'keep', text };
  const pieces = text.split(':').filter((piece) => piece !== '');
  const username = trimBlanks(pieces[0] ?? '');
  const password = trimBlanks(pieces[1] ?? '');
  if (username === '' || password === '') return { kind: 'corrupt', text };
  return { kind: 'entry', text, username, password };
}

export function fileLines(content: Buffer): FileLine[] {
  const text = content.toString('latin1');
  const lines: FileLine[] = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline + 1;
    lines.push(classify(text.slice(start, end)));
    start = end;
  }
  return lines;
}

function corrupt(lineNumber: number): number {
  err(`Error: Corrupt password file at line ${lineNumber}.\n`);
  return 1;
}

/** `username:hash\n` with a fresh salt. */
export function passwordLine(
  username: string,
  password: Buffer,
  type: HashType,
  iterations: number,
): Buffer {
  const hash = formatPasswordHash(hashPassword(password, type, iterations));
  return Buffer.concat([Buffer.from(username, 'latin1'), Buffer.from(`:${hash}\n`, 'latin1')]);
}

function joined(parts: readonly (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : part)),
  );
}

/** Adds or updates a user (every line naming it gets the new password). */
export function setUser(
  content: Buffer,
  username: string,
  password: Buffer,
  type: HashType,
  iterations: number,
): Buffer | number {
  const parts: (string | Buffer)[] = [];
  let found = false;
  const lines = fileLines(content);
  for (const [index, line] of lines.entries()) {
    if (line.kind === 'corrupt') return corrupt(index + 1);
    if (line.kind === 'entry' && line.username === username) {
      found = true;
      parts.push(passwordLine(line.username, password, type, iterations));
    } else {
      parts.push(line.text);
    }
  }
  if (!found) {
    const last = lines.at(-1);
    if (last !== undefined && !last.text.endsWith('\n')) parts.push('\n');
    parts.push(passwordLine(username, password, type, iterations));
  }
  return joined(parts);
}

/** -D: every line naming the user goes. */
export function deleteUser(content: Buffer, username: string): Buffer | number {
  const parts: string[] = [];
  let found = false;
  for (const [index, line] of fileLines(content).entries()) {
    if (line.kind === 'corrupt') {
      corrupt(index + 1);
      if (!found) notFound(username);
      return 1;
    }
    if (line.kind === 'entry' && line.username === username) found = true;
    else parts.push(line.text);
  }
  if (!found) {
    notFound(username);
    return 1;
  }
  return joined(parts);
}

function notFound(username: string): void {
  err(
    `Warning: User ${Buffer.from(username, 'latin1').toString('utf8')} not found in password file.\n`,
  );
}

/**
 * -U: every `user:password` line becomes `user:hash` (with the default iterations, as
 * Mosquitto ignores -I here). A file without any entry fails quietly, as in Mosquitto.
 */
export function hashPlainFile(content: Buffer, type: HashType): Buffer | number {
  const parts: (string | Buffer)[] = [];
  let entries = 0;
  for (const [index, line] of fileLines(content).entries()) {
    if (line.kind === 'corrupt') return corrupt(index + 1);
    if (line.kind === 'keep') {
      parts.push(line.text);
      continue;
    }
    entries++;
    parts.push(
      passwordLine(
        line.username,
        Buffer.from(line.password, 'latin1'),
        type,
        DEFAULT_PBKDF2_ITERATIONS,
      ),
    );
  }
  return entries === 0 ? 1 : joined(parts);
}
