/**
 * password_file as the broker reads it (features §5.1): comments, blank lines, CRLF,
 * trimming, the hash forms, invalid entries dropped with Mosquitto's log lines (checked
 * line for line against Debian's broker in vs-mosquitto.test.ts), and the file checks.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HashType, verifyPassword } from '../../../src/common/password.ts';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import { loadPasswordFile, parsePasswordFile } from '../../../src/broker/security/password-file.ts';
import { passwordEntry, tempDir } from './fixtures.ts';

function parse(text: string): {
  users: string[];
  log: string[];
  table: ReturnType<typeof parsePasswordFile>;
} {
  const log = new MemoryLog();
  const table = parsePasswordFile(Buffer.from(text, 'utf8'), '/pw', log);
  return { users: [...table.keys()], log: log.lines.map((l) => `${l.type}: ${l.message}`), table };
}

describe('password file lines', () => {
  test('comments, blank lines and lines without a colon are skipped silently', () => {
    const alice = passwordEntry('alice', 'a');
    const { users, log } = parse(`# comment\n\n   \nnocolon\n${alice}\n#bob:x\n`);
    assert.deepEqual(users, ['alice']);
    assert.deepEqual(log, []);
  });

  test('username and hash are trimmed, CRLF works, a missing final newline too', async () => {
    const [user, hash] = passwordEntry('alice', 'secret').split(':') as [string, string];
    const bob = passwordEntry('bob', 'b');
    const { table } = parse(`  ${user} \t:  ${hash} \r\n${bob}`);
    assert.deepEqual([...table.keys()], ['alice', 'bob']);
    const stored = table.get('alice');
    assert.ok(stored !== undefined);
    assert.equal(await verifyPassword(Buffer.from('secret'), stored), true);
    assert.equal(await verifyPassword(Buffer.from('Secret'), stored), false);
  });

  test('$6$ (salted SHA-512) and $7$ with any iteration count are accepted', async () => {
    const { table } = parse(
      `${passwordEntry('six', 'p6', HashType.Sha512)}\n${passwordEntry('seven', 'p7', HashType.Sha512Pbkdf2, 1000)}\n`,
    );
    const six = table.get('six');
    const seven = table.get('seven');
    assert.ok(six !== undefined && seven !== undefined);
    assert.equal(six.type, HashType.Sha512);
    assert.equal(seven.iterations, 1000);
    assert.equal(await verifyPassword(Buffer.from('p6'), six), true);
    assert.equal(await verifyPassword(Buffer.from('p7'), seven), true);
  });

  test('pieces after the hash are ignored; empty pieces are skipped as strtok does', () => {
    const [, hash] = passwordEntry('x', 'p').split(':') as [string, string];
    const { users, log } = parse(
      `::alice::${hash}:extra\nbob:${hash.replaceAll('$', () => '$$')}\n`,
    );
    assert.deepEqual(users, ['alice', 'bob']);
    assert.deepEqual(log, []);
  });

  test('invalid entries are dropped with Mosquitto’s lines: notices first, then errors', () => {
    const { users, log } = parse(
      [
        'empty:',
        ':lead',
        'plain:secret',
        'bad:$5$abc',
        'iter:$7$0$abc$def',
        'salt:$7$101$c2hvcnQ=$aGFzaA==',
        'missing:$7$101',
        'hash:$7$101$7E3qPeGNYgGE7Zdg$abc',
        'last:',
      ].join('\n'),
    );
    assert.deepEqual(users, []);
    assert.deepEqual(log, [
      "notice: Warning: Invalid line in password file '/pw': :lead",
      "notice: Warning: Invalid line in password file '/pw': last",
      'error: Error: Invalid password hash for user empty, removing entry.',
      'error: Error: Invalid password hash type for user plain, removing entry.',
      'error: Error: Invalid password hash type for user bad, removing entry.',
      'error: Error: Invalid hash iterations for user iter, removing entry.',
      'error: Error: Unable to decode password salt for user salt, removing entry.',
      'error: Error: Invalid password hash for user missing, removing entry.',
      'error: Error: Unable to decode password for user hash, removing entry.',
    ]);
  });

  test('a username or hash over 65535 bytes is skipped with a notice', () => {
    const [, hash] = passwordEntry('x', 'p').split(':') as [string, string];
    const { users, log } = parse(`${'u'.repeat(65536)}:${hash}\nv:${'h'.repeat(65536)}\n`);
    assert.deepEqual(users, []);
    assert.deepEqual(log, [
      "notice: Warning: Invalid line in password file '/pw', username too long.",
      "notice: Warning: Invalid line in password file '/pw', password too long.",
    ]);
  });

  test('a username given twice: the last valid line wins', async () => {
    const first = passwordEntry('alice', 'first');
    const second = passwordEntry('alice', 'second');
    const one = parse(`${first}\n${second}\n`).table.get('alice');
    assert.ok(one !== undefined);
    assert.equal(await verifyPassword(Buffer.from('second'), one), true);
    // An invalid later line is dropped and the earlier one stays.
    const two = parse(`${first}\nalice:$7$broken\n`).table.get('alice');
    assert.ok(two !== undefined);
    assert.equal(await verifyPassword(Buffer.from('first'), two), true);
  });

  test('a zero-length username is a valid entry', () => {
    const [, hash] = passwordEntry('x', 'p').split(':') as [string, string];
    assert.deepEqual(parse(` :${hash}\n`).users, ['']);
  });
});

describe('password file on disk', () => {
  test('missing: Mosquitto’s error line, no table', () => {
    const log = new MemoryLog();
    assert.equal(loadPasswordFile('/nonexistent/pw', log), null);
    assert.deepEqual(log.messages(), ['Error: Unable to open pwfile "/nonexistent/pw".']);
  });

  test('a directory is not a file', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'sub');
      mkdirSync(path, { mode: 0o700 });
      const log = new MemoryLog();
      assert.equal(loadPasswordFile(path, log), null);
      assert.deepEqual(log.messages(), [
        `Error: ${path} is not a file.`,
        `Error: Unable to open pwfile "${path}".`,
      ]);
    } finally {
      dir.remove();
    }
  });

  test('world readable: 2.0.16+ warns and still loads it', () => {
    const dir = tempDir();
    try {
      const path = dir.write('pw', `${passwordEntry('alice', 'a')}\n`, 0o644);
      const log = new MemoryLog();
      const table = loadPasswordFile(path, log);
      assert.deepEqual([...(table?.keys() ?? [])], ['alice']);
      assert.deepEqual(log.lines, [
        {
          type: 'warning',
          message:
            `Warning: File ${path} has world readable permissions. Future versions will refuse to load this file.\n` +
            `To fix this, use \`chmod 0700 ${path}\`.`,
        },
      ]);
    } finally {
      dir.remove();
    }
  });
});
