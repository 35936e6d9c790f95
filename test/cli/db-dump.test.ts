/**
 * Our mosquitto_db_dump (bin/mosquitto_db_dump) against Mosquitto's: 2.0.22's for the dump,
 * --stats and --client-stats, 2.1.2's for --json.
 *
 * Everywhere: the files of db-dump-files.ts must give the output written down in
 * db-dump-golden.ts (what those tools printed), and the usage, missing-file and directory
 * cases their literal texts. Where a machine has builds of 2.0.22 and 2.1.2 (CI has not;
 * see real-db.ts), the same files, files written by a real broker in the test and every
 * truncation of one are also run through those builds and compared byte for byte.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dbDump } from '../../src/cli/db-dump.ts';
import { trackTempDir } from '../helpers/children.ts';
import { mosquittoSkip } from '../helpers/mosquitto.ts';
import { repoRoot } from '../helpers/process.ts';
import { makeRealDb, referenceProgram, referenceSkipMessage } from '../helpers/real-db.ts';
import { damagedFiles, fullFile, version4File } from './db-dump-files.ts';
import { GOLDEN, type DumpMode } from './db-dump-golden.ts';

const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-dbdump-')));
const MODES: readonly DumpMode[] = ['print', '--stats', '--client-stats', '--json'];

interface Output {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

function args(mode: DumpMode, path: string): string[] {
  return mode === 'print' ? [path] : [mode, path];
}

/** Runs a mosquitto_db_dump program: ours through bin/, or a reference build. */
function run(program: string, argv: readonly string[]): Output {
  const result = spawnSync(program, argv, { timeout: 10_000 });
  if (result.error !== undefined) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr.toString('utf8') };
}

const OURS = join(repoRoot, 'bin', 'mosquitto_db_dump');
const REF_2022 = referenceProgram('2.0.22', 'mosquitto_db_dump');
const REF_212 = referenceProgram('2.1.2', 'mosquitto_db_dump');

/** The reference build for a mode, or null. */
function reference(mode: DumpMode): string | null {
  return mode === '--json' ? REF_212 : REF_2022;
}

function referenceSkip(mode: DumpMode): { skip?: string } {
  if (reference(mode) !== null) return {};
  return mode === '--json'
    ? { skip: referenceSkipMessage('2.1.2', 'mosquitto_db_dump') }
    : { skip: referenceSkipMessage('2.0.22', 'mosquitto_db_dump') };
}

function assertSame(actual: Output, expected: Output, what: string): void {
  assert.equal(actual.stderr, expected.stderr, `${what}: stderr`);
  assert.equal(actual.stdout.toString('utf8'), expected.stdout.toString('utf8'), `${what}: stdout`);
  assert.ok(actual.stdout.equals(expected.stdout), `${what}: stdout bytes`);
  assert.equal(actual.code, expected.code, `${what}: exit status`);
}

// --- Files made here, and what Mosquitto printed for them -------------------------------

const FILES: Record<string, Buffer> = {
  full: fullFile(),
  'version 4': version4File(),
  ...damagedFiles(),
};

describe('files with known dumps', () => {
  for (const [index, [name, data]] of Object.entries(FILES).entries()) {
    const path = join(dir, `file-${index}.db`);
    writeFileSync(path, data);
    for (const mode of MODES) {
      const golden = GOLDEN[name]?.[mode];
      const expected: Output | undefined = golden && {
        code: golden.code,
        stdout: Buffer.from(golden.stdout.join('\n')),
        stderr: golden.stderr,
      };
      test(`${name}, ${mode}: Mosquitto's output`, () => {
        assert.ok(expected !== undefined, `no golden output for ${name} ${mode}`);
        assertSame(run(OURS, args(mode, path)), expected, 'ours');
      });
      test(`${name}, ${mode}: the reference build still prints that`, referenceSkip(mode), () => {
        assert.ok(expected !== undefined);
        assertSame(run(reference(mode)!, args(mode, path)), expected, 'reference');
      });
    }
  }
});

describe('arguments and files that cannot be read', () => {
  const usage = 'Usage: db_dump [--stats | --client-stats | --json] <mosquitto db filename>\n';
  const missing = join(dir, 'no-such.db');
  const directory = join(dir, 'a-directory');
  mkdirSync(directory);
  const cases: [string, string[], Output, 'both' | '2.0.22' | '2.1.2'][] = [
    ['no arguments', [], { code: 1, stdout: Buffer.alloc(0), stderr: usage }, '2.1.2'],
    [
      'three arguments',
      ['a', 'b', 'c'],
      { code: 1, stdout: Buffer.alloc(0), stderr: usage },
      '2.1.2',
    ],
    [
      'an unknown option',
      ['--bogus', 'x'],
      { code: 1, stdout: Buffer.alloc(0), stderr: usage },
      '2.1.2',
    ],
    // A file that cannot be opened is reported, and the exit status is still 0.
    ...MODES.map((mode): [string, string[], Output, 'both' | '2.1.2'] => [
      `a missing file, ${mode}`,
      args(mode, missing),
      { code: 0, stdout: Buffer.alloc(0), stderr: `Error: Unable to open ${missing}\n` },
      mode === '--json' ? '2.1.2' : 'both',
    ]),
    // A directory opens, then the first read fails: 2.0.22 prints strerror(), 2.1.2 nothing.
    [
      'a directory',
      [directory],
      { code: 1, stdout: Buffer.alloc(0), stderr: 'Error: Is a directory.' },
      '2.0.22',
    ],
    [
      'a directory, --json',
      ['--json', directory],
      { code: 1, stdout: Buffer.alloc(0), stderr: '' },
      '2.1.2',
    ],
  ];
  for (const [name, argv, expected, version] of cases) {
    test(`${name}: ours`, () => {
      assertSame(run(OURS, argv), expected, 'ours');
    });
    const references =
      version === 'both' ? [REF_2022, REF_212] : [version === '2.0.22' ? REF_2022 : REF_212];
    const skip = references.includes(null)
      ? {
          skip: referenceSkipMessage(version === '2.1.2' ? '2.1.2' : '2.0.22', 'mosquitto_db_dump'),
        }
      : {};
    test(`${name}: the reference build`, skip, () => {
      for (const program of references) assertSame(run(program!, argv), expected, program!);
    });
  }
});

// --- Files written by a real broker ----------------------------------------------------

const BROKERS = [
  {
    version: '2.0.11',
    skip: mosquittoSkip(['mosquitto', 'mosquitto_pub', 'mosquitto_sub']),
  },
  {
    version: '2.0.22',
    skip:
      referenceProgram('2.0.22', 'mosquitto') === null
        ? { skip: referenceSkipMessage('2.0.22', 'mosquitto') }
        : mosquittoSkip(['mosquitto_pub', 'mosquitto_sub']),
  },
] as const;

for (const { version, skip } of BROKERS) {
  describe(`a mosquitto.db written by Mosquitto ${version}`, skip, () => {
    let real: Awaited<ReturnType<typeof makeRealDb>> | undefined;
    const file = async (): Promise<NonNullable<typeof real>> =>
      (real ??= await makeRealDb(version));

    test('dumped by ours: the sessions, messages and counts that were stored', async () => {
      const { path } = await file();
      const dump = run(OURS, [path]);
      assert.equal(dump.code, 0, dump.stderr);
      assert.equal(dump.stderr, '');
      const text = dump.stdout.toString('utf8');
      assert.match(
        text,
        /^Mosquitto DB dump\nCRC: 0\nDB version: 6\nDB_CHUNK_CFG:\n\tLength: 16\n\tShutdown: 1\n/,
      );
      for (const line of [
        '\tTopic: r/1\n',
        '\tPayload: hello\n',
        '\t\tContent type: text/plain\n',
        '\t\tUser property: k , v\n',
        '\t\tCorrelation data: 616263\n',
        '\t\tResponse topic: resp/t\n',
        '\tClient ID: durable311\n',
        '\tClient ID: durable5\n\tUsername: user5\n',
        '\t\tSubscription identifier: 7\n',
      ]) {
        assert.ok(text.includes(line), `no ${JSON.stringify(line)} in\n${text}`);
      }
      assert.doesNotMatch(text, /\$share/);
      const stats = run(OURS, ['--stats', path]);
      assert.equal(
        stats.stdout.toString(),
        'DB_CHUNK_CFG:        1\nDB_CHUNK_MSG_STORE:  4\nDB_CHUNK_CLIENT_MSG: 4\n' +
          'DB_CHUNK_RETAIN:     2\nDB_CHUNK_SUB:        2\nDB_CHUNK_CLIENT:     2\n',
      );
      const json = JSON.parse(run(OURS, ['--json', path]).stdout.toString()) as Record<
        string,
        unknown[]
      >;
      assert.deepEqual(
        Object.entries(json).map(([key, items]) => [key, items.length]),
        [
          ['base-messages', 4],
          ['clients', 2],
          ['client-messages', 4],
          ['retained-messages', 2],
          ['subscriptions', 2],
        ],
      );
    });

    for (const mode of MODES) {
      test(`${mode}: the same bytes as Mosquitto's tool`, referenceSkip(mode), async () => {
        const { path } = await file();
        assertSame(run(OURS, args(mode, path)), run(reference(mode)!, args(mode, path)), mode);
      });
    }

    test(
      "cut at every offset: the same output as Mosquitto's tool",
      {
        skip:
          REF_2022 === null || REF_212 === null
            ? referenceSkipMessage('2.0.22', 'mosquitto_db_dump')
            : false,
      },
      async () => {
        const { data } = await file();
        const cut = join(dir, `cut-${version}.db`);
        for (let length = 0; length < data.length; length++) {
          writeFileSync(cut, data.subarray(0, length));
          for (const mode of ['print', '--json'] as const) {
            const ours = dbDump(args(mode, cut));
            assertSame(
              { code: ours.code, stdout: ours.stdout, stderr: ours.stderr },
              run(reference(mode)!, args(mode, cut)),
              `${mode} of the first ${length} bytes`,
            );
          }
        }
      },
    );
  });
}
