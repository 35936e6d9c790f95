/**
 * mosquitto_passwd against Debian's: for a table of invocations, both tools run on the same
 * files with the same stdin and must agree byte for byte on stdout, stderr and the exit
 * code, and on the resulting file (hashes are random: they are checked to verify the
 * expected password and then compared as placeholders). Then the deviations we chose,
 * prompting on a terminal (through `script`), and files passing between the tools and
 * brokers in both directions.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { findOnPath, spawnTracked } from '../helpers/children.ts';
import { ourBroker, repoRoot } from '../helpers/process.ts';
import { mosquittoSkip, realMosquitto, requiredPath } from '../helpers/mosquitto.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { parsePasswordHash, verifyPassword } from '../../src/common/password.ts';
import { passwordEntry, tempDir } from '../broker/security/fixtures.ts';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

type Tool = 'ours' | 'debian';

function commandOf(tool: Tool, args: readonly string[]): [string, string[]] {
  return tool === 'ours'
    ? [join(repoRoot, 'bin', 'mosquitto_passwd'), [...args]]
    : [requiredPath('mosquitto_passwd'), [...args]];
}

/** Runs a command to its end (killed after 15 s), with `input` on stdin. */
function execute(command: string, args: readonly string[], cwd: string, input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('latin1'),
        stderr: Buffer.concat(stderr).toString('latin1'),
      });
    });
  });
}

function run(tool: Tool, cwd: string, args: readonly string[], input = ''): Promise<Run> {
  const [command, argv] = commandOf(tool, args);
  return execute(command, argv, cwd, input);
}

const HASH_LINE = /^([^:\n]*):\$(6|7)\$(?:(\d+)\$)?([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/gm;

/**
 * The file with every hash replaced by `$type$iterations$<hash>`, after checking that each
 * user in `passwords` has a hash of that password.
 */
async function normalisedFile(
  path: string,
  passwords: Readonly<Record<string, string>>,
): Promise<string> {
  if (!existsSync(path)) return '<no file>';
  const text = readFileSync(path, 'latin1');
  for (const match of text.matchAll(HASH_LINE)) {
    const [line, user = ''] = match;
    const expected = passwords[user];
    if (expected === undefined) continue;
    const hash = parsePasswordHash(line.slice(user.length + 1));
    assert.ok(
      await verifyPassword(Buffer.from(expected, 'utf8'), hash),
      `${user} has password ${expected}`,
    );
  }
  return text.replace(HASH_LINE, (_all, user: string, type: string, iterations?: string) =>
    iterations === undefined ? `${user}:$${type}$<hash>` : `${user}:$${type}$${iterations}$<hash>`,
  );
}

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  /** Files created first (mode 0600), by name. */
  readonly files?: Readonly<Record<string, string>>;
  readonly input?: string;
  /** Users whose hash must verify this password afterwards (in file `f`). */
  readonly passwords?: Readonly<Record<string, string>>;
}

const ALICE = passwordEntry('alice', 'a');
const BOB = passwordEntry('bob', 'b');

const CASES: readonly Case[] = [
  { name: 'no arguments: usage on stdout', args: [] },
  { name: 'an unknown option is a positional argument: usage', args: ['-x'] },
  { name: '-h: usage', args: ['-h'] },
  { name: 'too many arguments: usage', args: ['-b', 'f', 'u', 'p', 'extra'] },
  { name: 'options after the file are positional', args: ['f', '-c', 'u'] },
  { name: '-c and -D', args: ['-c', '-D', 'f', 'u'] },
  { name: '-c and -U', args: ['-c', '-U', 'f'] },
  { name: '-D and -U', args: ['-D', '-U', 'f'] },
  { name: '-b and -D', args: ['-b', '-D', 'f', 'u'] },
  { name: '-D without a username', args: ['-D', 'f'] },
  { name: '-c without a username', args: ['-c', 'f'] },
  { name: '-c -b without a password', args: ['-c', '-b', 'f', 'u'] },
  { name: '-U without a file', args: ['-U'] },
  { name: '-U with two files', args: ['-U', 'a', 'b'] },
  { name: '-H without a value', args: ['-H'] },
  { name: 'an unknown hash type', args: ['-H', 'md5', '-b', 'f', 'u', 'p'] },
  { name: '-I without a value', args: ['-I'] },
  { name: '-I 0', args: ['-I', '0', '-c', '-b', 'f', 'u', 'p'] },
  { name: '-I with no digits', args: ['-I', 'many', '-c', '-b', 'f', 'u', 'p'] },
  { name: 'a username with a colon', args: ['-c', '-b', 'f', 'a:b', 'p'] },
  { name: 'a username with a control character', args: ['-c', '-b', 'f', 'a\tb', 'p'] },
  { name: 'a username of 65536 bytes', args: ['-c', '-b', 'f', 'u'.repeat(65536), 'p'] },
  { name: 'a password of 65536 bytes', args: ['-c', '-b', 'f', 'u', 'p'.repeat(65536)] },
  { name: 'update of a missing file', args: ['-b', 'missing', 'u', 'p'] },
  { name: '-D on a missing file', args: ['-D', 'missing', 'u'] },
  { name: '-U on a missing file', args: ['-U', 'missing'] },
  { name: 'a path through a file', args: ['-b', 'f/x', 'u', 'p'], files: { f: `${ALICE}\n` } },
  { name: '-c in a missing directory', args: ['-c', '-b', 'nodir/f', 'u', 'p'] },
  { name: '-c on a directory', args: ['-c', '-b', 'sub', 'u', 'p'] },
  { name: 'update of a directory', args: ['-b', 'sub', 'u', 'p'] },
  {
    name: '-c -b creates the file with one user',
    args: ['-c', '-b', 'f', 'alice', 'secret'],
    passwords: { alice: 'secret' },
  },
  {
    name: '-c replaces an existing file',
    args: ['-c', '-b', 'f', 'carol', 'c'],
    files: { f: `${ALICE}\n${BOB}\n` },
    passwords: { carol: 'c' },
  },
  {
    name: '-H sha512 writes $6$',
    args: ['-H', 'sha512', '-c', '-b', 'f', 'alice', 'six'],
    passwords: { alice: 'six' },
  },
  {
    name: '-I sets the PBKDF2 iterations',
    args: ['-I', '1000', '-c', '-b', 'f', 'alice', 'it'],
    passwords: { alice: 'it' },
  },
  {
    name: 'an empty password is accepted with -b',
    args: ['-c', '-b', 'f', 'alice', ''],
    passwords: { alice: '' },
  },
  {
    name: 'updating a user keeps the other lines and their order',
    args: ['-b', 'f', 'alice', 'new'],
    files: { f: `${ALICE}\n${BOB}\n` },
    passwords: { alice: 'new', bob: 'b' },
  },
  {
    name: 'a new user is appended',
    args: ['-b', 'f', 'carol', 'c'],
    files: { f: `${ALICE}\n${BOB}\n` },
    passwords: { alice: 'a', bob: 'b', carol: 'c' },
  },
  {
    name: 'CRLF lines stay CRLF; the changed line becomes LF',
    args: ['-b', 'f', 'alice', 'x'],
    files: { f: `${ALICE}\r\n${BOB}\r\n` },
    passwords: { alice: 'x', bob: 'b' },
  },
  {
    name: 'a user named twice is updated twice',
    args: ['-b', 'f', 'alice', 'x'],
    files: { f: `${ALICE}\n${BOB}\n${passwordEntry('alice', 'old')}\n` },
    passwords: { alice: 'x' },
  },
  { name: '-D removes the user', args: ['-D', 'f', 'alice'], files: { f: `${ALICE}\n${BOB}\n` } },
  { name: '-D of an unknown user', args: ['-D', 'f', 'carol'], files: { f: `${ALICE}\n${BOB}\n` } },
  { name: '-D on an empty file', args: ['-D', 'f', 'carol'], files: { f: '' } },
  {
    name: '-U hashes a plain text file (trimmed, CRLF, default iterations)',
    args: ['-I', '5000', '-U', 'f'],
    files: { f: 'alice:pa\n  bob : pb \r\n' },
    passwords: { alice: 'pa', bob: 'pb' },
  },
  {
    name: '-U with -H sha512',
    args: ['-H', 'sha512', '-U', 'f'],
    files: { f: 'alice:pa\n' },
    passwords: { alice: 'pa' },
  },
  { name: '-U on an empty file fails quietly', args: ['-U', 'f'], files: { f: '' } },
  {
    name: 'a corrupt line after the user: error, file unchanged',
    args: ['-b', 'f', 'alice', 'x'],
    files: { f: `${ALICE}\nnot a user line\n${BOB}\n` },
  },
  {
    name: '-D with a corrupt line before the user',
    args: ['-D', 'f', 'bob'],
    files: { f: `${ALICE}\nuser:\n${BOB}\n` },
  },
  { name: '-U with a corrupt line', args: ['-U', 'f'], files: { f: 'alice:pa\nbob\n' } },
  {
    name: 'prompting from a pipe',
    args: ['-c', 'f', 'alice'],
    input: 'typed\ntyped\n',
    passwords: { alice: 'typed' },
  },
  {
    name: 'prompting for an update, CRLF answers',
    args: ['f', 'bob'],
    files: { f: `${ALICE}\n${BOB}\n` },
    input: 'nb\r\nnb\r\n',
    passwords: { alice: 'a', bob: 'nb' },
  },
  { name: 'answers that differ', args: ['-c', 'f', 'alice'], input: 'one\ntwo\n' },
  { name: 'an empty answer', args: ['-c', 'f', 'alice'], input: '\n' },
  { name: 'no second answer', args: ['-c', 'f', 'alice'], input: 'only' },
  { name: 'no input at all', args: ['f', 'alice'], files: { f: `${ALICE}\n` } },
  { name: 'leading blanks are part of the answer', args: ['-c', 'f', 'u'], input: 'pw\n pw\n' },
];

function prepare(dir: string, testCase: Case): void {
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (const [name, content] of Object.entries(testCase.files ?? {})) {
    writeFileSync(join(dir, name), content);
    chmodSync(join(dir, name), 0o600);
  }
}

describe(
  'mosquitto_passwd next to Debian’s',
  { concurrency: 8, ...mosquittoSkip(['mosquitto_passwd']) },
  () => {
    for (const testCase of CASES) {
      test(testCase.name, async () => {
        const outcomes = await Promise.all(
          (['debian', 'ours'] as const).map(async (tool) => {
            const dir = tempDir(`passwd-${tool}`);
            try {
              prepare(dir.path, testCase);
              const result = await run(tool, dir.path, testCase.args, testCase.input);
              const file = await normalisedFile(join(dir.path, 'f'), testCase.passwords ?? {});
              const backups = readdirSync(dir.path).some((name) => name.includes('.backup.'));
              const outcome = {
                code: result.code,
                stdout: result.stdout.replaceAll(dir.path, '{dir}'),
                stderr: result.stderr.replaceAll(dir.path, '{dir}'),
                file,
                backups,
              };
              return JSON.stringify(outcome, null, 1);
            } finally {
              dir.remove();
            }
          }),
        );
        assert.equal(outcomes[1], outcomes[0]);
      });
    }
  },
);

describe('where we deliberately differ from Mosquitto', () => {
  const ours = (dir: string, args: readonly string[]): Promise<Run> => run('ours', dir, args);

  test('comments and blank lines are kept (Mosquitto truncates the file there)', async () => {
    const dir = tempDir('passwd');
    try {
      const original = `# users of the plant\n${ALICE}\n\n# operators\n${BOB}\n`;
      const file = dir.write('f', original);
      assert.deepEqual(await ours(dir.path, ['-b', 'f', 'carol', 'c']), {
        code: 0,
        stdout: '',
        stderr: '',
      });
      const added = readFileSync(file, 'latin1');
      assert.ok(added.startsWith(original));
      assert.match(added.slice(original.length), /^carol:\$7\$101\$[^\n]+\n$/);
      await normalisedFile(file, { carol: 'c' });
      const carol = added.slice(original.length, -1);

      assert.equal((await ours(dir.path, ['-b', 'f', 'alice', 'new'])).code, 0);
      assert.equal((await ours(dir.path, ['-D', 'f', 'bob'])).code, 0);
      const lines = readFileSync(file, 'latin1').split('\n');
      assert.equal(lines.length, 6);
      assert.deepEqual(
        [lines[0], lines[2], lines[3], lines[4], lines[5]],
        ['# users of the plant', '', '# operators', carol, ''],
      );
      assert.ok(lines[1]?.startsWith('alice:') === true && lines[1] !== ALICE);
      await normalisedFile(file, { alice: 'new', carol: 'c' });
    } finally {
      dir.remove();
    }
  });

  test('a last line without a newline gets one before a user is appended', async () => {
    const dir = tempDir('passwd');
    try {
      const file = dir.write('f', ALICE);
      assert.equal((await ours(dir.path, ['-b', 'f', 'bob', 'b'])).code, 0);
      assert.ok(readFileSync(file, 'latin1').startsWith(`${ALICE}\nbob:$7$101$`));
      assert.equal(
        await normalisedFile(file, { bob: 'b' }),
        'alice:$7$101$<hash>\nbob:$7$101$<hash>\n',
      );
    } finally {
      dir.remove();
    }
  });

  test('files are created with mode 0600 (2.0.16+; Debian’s 2.0.11 makes 0644)', async () => {
    const dir = tempDir('passwd');
    try {
      assert.equal((await ours(dir.path, ['-c', '-b', 'f', 'u', 'p'])).code, 0);
      assert.equal(statSync(join(dir.path, 'f')).mode & 0o777, 0o600);
    } finally {
      dir.remove();
    }
  });

  test('2.0.16+ warns, without a final newline, about a world-readable file', async () => {
    const dir = tempDir('passwd');
    try {
      const file = dir.write('f', `${ALICE}\n`, 0o644);
      assert.deepEqual(await ours(dir.path, ['-b', 'f', 'bob', 'b']), {
        code: 0,
        stdout: '',
        stderr:
          `Warning: File ${file} has world readable permissions. Future versions will refuse to load this file.\n` +
          `To fix this, use \`chmod 0700 ${file}\`.`,
      });
    } finally {
      dir.remove();
    }
  });
});

const noScript = findOnPath('script') === null ? 'needs script(1) from util-linux' : false;

/**
 * Runs the tool on a terminal (util-linux `script`) and types answers[i] once the i-th
 * password prompt is on the screen (and the tool has had a moment to turn echo off).
 */
function onTerminal(
  tool: Tool,
  dir: string,
  args: readonly string[],
  answers: readonly string[],
): Promise<Run> {
  const [command, argv] = commandOf(tool, args);
  const quoted = [command, ...argv].map((word) => `'${word}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawnTracked('script', ['-qec', quoted, '/dev/null'], {
      cwd: dir,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let typed = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('latin1');
      const prompts = stdout.split('assword: ').length - 1;
      while (typed < prompts && typed < answers.length) {
        const answer = answers[typed++] ?? '';
        setTimeout(() => child.stdin?.write(answer), 100);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('latin1');
    });
    child.stdin?.on('error', () => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe(
  'prompting on a terminal',
  { concurrency: true, ...mosquittoSkip(['mosquitto_passwd']) },
  () => {
    for (const [name, keys, passwords] of [
      ['no echo; Enter ends an answer', ['secret\r', 'secret\r'], { alice: 'secret' }],
      ['answers that differ', ['one\r', 'two\r'], {}],
    ] as const) {
      test(`${name}: the same output as Debian’s tool`, { skip: noScript }, async () => {
        const outcomes = await Promise.all(
          (['debian', 'ours'] as const).map(async (tool) => {
            const dir = tempDir('passwd-tty');
            try {
              const result = await onTerminal(tool, dir.path, ['-c', 'f', 'alice'], keys);
              const file = await normalisedFile(join(dir.path, 'f'), passwords);
              return JSON.stringify({ ...result, file });
            } finally {
              dir.remove();
            }
          }),
        );
        assert.equal(outcomes[1], outcomes[0]);
      });
    }

    test('Ctrl-C ends the tool with status 0 and no file', { skip: noScript }, async () => {
      const dir = tempDir('passwd-tty');
      try {
        const result = await onTerminal('ours', dir.path, ['-c', 'f', 'alice'], ['ab\x03']);
        assert.equal(result.code, 0);
        assert.equal(result.stdout, 'Password: ');
        assert.equal(existsSync(join(dir.path, 'f')), false);
      } finally {
        dir.remove();
      }
    });

    test(
      'Backspace erases (Mosquitto would keep it in the password)',
      { skip: noScript },
      async () => {
        const dir = tempDir('passwd-tty');
        try {
          const keys = ['abx\x7fc\r', 'abc\r'];
          const result = await onTerminal('ours', dir.path, ['-c', 'f', 'alice'], keys);
          assert.equal(result.code, 0);
          assert.equal(
            await normalisedFile(join(dir.path, 'f'), { alice: 'abc' }),
            'alice:$7$101$<hash>\n',
          );
        } finally {
          dir.remove();
        }
      },
    );
  },
);

describe(
  'files between the tools and the brokers',
  { concurrency: true, ...mosquittoSkip(['mosquitto', 'mosquitto_passwd']) },
  () => {
    async function connack(port: number, username: string, password: string): Promise<string> {
      const client = await RawClient.open(port);
      try {
        client.send(wire.connect({ clientId: `c-${username}`, username, password }));
        return toHex(await client.expectPacket());
      } finally {
        client.destroy();
      }
    }

    for (const [maker, broker, name] of [
      ['ours', realMosquitto, 'a file made by our tool works with Debian’s broker'],
      ['debian', ourBroker, 'a file made by Debian’s tool works with our broker'],
    ] as const) {
      test(name, async () => {
        const dir = tempDir('passwd-interop');
        try {
          assert.equal((await run(maker, dir.path, ['-c', '-b', 'f', 'alice', 'a7'])).code, 0);
          assert.equal(
            (await run(maker, dir.path, ['-H', 'sha512', '-b', 'f', 'bob', 'b6'])).code,
            0,
          );
          assert.equal(
            (await run(maker, dir.path, ['-I', '2000', '-b', 'f', 'carol', 'c7'])).code,
            0,
          );
          const running = await broker.start({
            allowAnonymous: false,
            config: ['password_file {dir}/pw'],
            files: { pw: readFileSync(join(dir.path, 'f'), 'utf8') },
          });
          try {
            assert.equal(await connack(running.port, 'alice', 'a7'), '20 02 00 00');
            assert.equal(await connack(running.port, 'bob', 'b6'), '20 02 00 00');
            assert.equal(await connack(running.port, 'carol', 'c7'), '20 02 00 00');
            assert.equal(await connack(running.port, 'alice', 'b6'), '20 02 00 05');
          } finally {
            await running.stop();
          }
        } finally {
          dir.remove();
        }
      });
    }

    test('each tool edits a file the other made', async () => {
      const dir = tempDir('passwd-interop');
      try {
        assert.equal((await run('debian', dir.path, ['-c', '-b', 'f', 'alice', 'a'])).code, 0);
        chmodSync(join(dir.path, 'f'), 0o600);
        assert.equal((await run('ours', dir.path, ['-b', 'f', 'bob', 'b'])).code, 0);
        assert.equal((await run('debian', dir.path, ['-b', 'f', 'carol', 'c'])).code, 0);
        assert.equal((await run('ours', dir.path, ['-D', 'f', 'alice'])).code, 0);
        assert.equal(
          await normalisedFile(join(dir.path, 'f'), { bob: 'b', carol: 'c' }),
          'bob:$7$101$<hash>\ncarol:$7$101$<hash>\n',
        );
      } finally {
        dir.remove();
      }
    });
  },
);
