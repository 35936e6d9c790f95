/**
 * Argument scanning, driven by the option table, compared with Debian's tools: for every
 * option of the table and every tool, the option alone (its argument missing, or the
 * option not valid for that tool), plus a list of bad values and bad combinations. Our
 * tools run in-process (fast); Debian's run as processes. stdout, stderr and the exit
 * status must be identical, after the §3.17 normalisation (version number).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runPub } from '../../src/cli/pub.ts';
import { runRr } from '../../src/cli/rr.ts';
import { runSub } from '../../src/cli/sub.ts';
import { OPTIONS } from '../../src/cli/args/options.ts';
import type { Tool } from '../../src/cli/args/config.ts';
import { mosquittoSkip } from '../helpers/mosquitto.ts';
import { recordingIo } from './fake-io.ts';
import { normalise, runTool, type ToolName } from './tool-process.ts';

const RUN = { pub: runPub, sub: runSub, rr: runRr } as const;
const PROGRAM: Record<Tool, ToolName> = {
  pub: 'mosquitto_pub',
  sub: 'mosquitto_sub',
  rr: 'mosquitto_rr',
};
const TOOLS: readonly Tool[] = ['pub', 'sub', 'rr'];

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function ours(tool: Tool, argv: readonly string[], stdin = ''): Promise<Outcome> {
  const io = recordingIo(stdin);
  const code = await RUN[tool](argv, io);
  return { code, stdout: normalise(io.stdout().toString('utf8')), stderr: io.stderr() };
}

async function real(tool: Tool, argv: readonly string[], stdin = ''): Promise<Outcome> {
  const result = await runTool('real', PROGRAM[tool], argv, { input: stdin });
  return {
    code: result.code,
    stdout: normalise(result.stdout.toString('utf8')),
    stderr: result.stderr,
  };
}

async function same(tool: Tool, argv: readonly string[], stdin = ''): Promise<void> {
  const [mine, theirs] = await Promise.all([ours(tool, argv, stdin), real(tool, argv, stdin)]);
  assert.deepEqual(mine, theirs, `${PROGRAM[tool]} ${argv.join(' ')}`);
}

const skip = mosquittoSkip(['mosquitto_pub', 'mosquitto_sub', 'mosquitto_rr']);

describe('every option of the table, alone, in every tool', skip, () => {
  for (const tool of TOOLS) {
    test(`${PROGRAM[tool]}: each option without its argument, or unknown to the tool`, async () => {
      for (const spec of OPTIONS) {
        for (const name of spec.names) {
          // --help/--version print the usage; -D needs its own words; flags alone are valid
          // and would go on to connect, so only options that need an argument, or that the
          // tool does not know, are run bare here.
          const known = spec.tools.includes(tool);
          if (known && spec.missing === undefined) continue;
          await same(tool, [name]);
        }
      }
    });
  }
});

describe('help and version', skip, () => {
  for (const tool of TOOLS) {
    test(`${PROGRAM[tool]} --help and --version`, async () => {
      await same(tool, ['--help']);
      await same(tool, ['--version']);
      await same(tool, ['-q', '1', '--help']);
    });
  }
});

/** Arguments that fail before any connection, and the tools they apply to. */
const BAD: readonly (readonly [readonly Tool[], readonly string[]])[] = [
  [TOOLS, ['-q', '3']],
  [TOOLS, ['-q', '-1']],
  [TOOLS, ['-p', '70000']],
  [TOOLS, ['-p', '-5']],
  [TOOLS, ['-k', '2']],
  [TOOLS, ['-k', 'abc']],
  [TOOLS, ['-k', '70000']],
  [TOOLS, ['-x', 'abc']],
  [TOOLS, ['-x', '-2']],
  [TOOLS, ['-x', '4294967296']],
  [TOOLS, ['-x', '12abc']],
  [TOOLS, ['-V', '4']],
  [TOOLS, ['-V', 'mqttv50']],
  [TOOLS, ['-M', '0']],
  [TOOLS, ['--will-qos', '3']],
  [TOOLS, ['--will-topic', 'a/#']],
  [TOOLS, ['--will-payload', 'x', '-t', 'a']],
  [TOOLS, ['--will-retain', '-t', 'a']],
  [TOOLS, ['--cert', 'c.pem', '-t', 'a']],
  [TOOLS, ['--key', 'k.pem', '-t', 'a']],
  [TOOLS, ['--psk', 'abcd', '-t', 'a']],
  [TOOLS, ['--psk', 'abcd', '--psk-identity', 'id', '--cafile', 'x', '-t', 'a']],
  [TOOLS, ['--keyform', 'pem', '-t', 'a']],
  [TOOLS, ['-i', 'a', '-I', 'b']],
  [TOOLS, ['-I', 'b', '-i', 'a']],
  [TOOLS, ['-D', 'connect']],
  [TOOLS, ['-D', 'connect', 'receive-maximum']],
  [TOOLS, ['-D', 'bogus', 'receive-maximum', '1']],
  [TOOLS, ['-D', 'connect', 'bogus', '1']],
  [TOOLS, ['-D', 'publish', 'receive-maximum', '1']],
  [TOOLS, ['-D', 'connect', 'receive-maximum', '70000']],
  [TOOLS, ['-D', 'connect', 'receive-maximum', '-1']],
  [TOOLS, ['-D', 'publish', 'subscription-identifier', '1']],
  [TOOLS, ['-D', 'subscribe', 'content-type', 'x']],
  [TOOLS, ['-D', 'auth', 'user-property', 'a', 'b']],
  [TOOLS, ['-D', 'puback', 'user-property', 'a', 'b']],
  [TOOLS, ['-D', 'connack', 'assigned-client-identifier', 'x']],
  [TOOLS, ['-D', 'CONNECT', 'User-Property', 'a']],
  [TOOLS, ['-D', 'connect', 'receive-maximum', '0', '-t', 'a', '-m', 'x', '-e', 'r']],
  [
    TOOLS,
    [
      '-D',
      'connect',
      'session-expiry-interval',
      '5',
      '-D',
      'connect',
      'session-expiry-interval',
      '6',
      '-t',
      'a',
      '-m',
      'x',
      '-e',
      'r',
    ],
  ],
  [TOOLS, ['-L', 'http://host/topic']],
  [TOOLS, ['-L', 'mqtt://host']],
  [TOOLS, ['--proxy', 'http://proxy']],
  [TOOLS, ['--proxy', 'socks5h://']],
  [TOOLS, ['--proxy', 'socks5h://host:0']],
  [TOOLS, ['--proxy', 'socks5h://:pw@host']],
  [TOOLS, ['--quiet', '--proxy', 'socks5h://host:99999']],
  [TOOLS, ['-c', '-t', 'a', '-m', 'x', '-e', 'r', '-V', '311']],
  [TOOLS, ['-c', '-V', '5', '-t', 'a', '-m', 'x', '-e', 'r']],
  [TOOLS, ['-x', '-1', '-V', '5', '-t', 'a', '-m', 'x', '-e', 'r']],
  [TOOLS, ['-t', 'a', '-m', 'x', '-e', 'r', '--cafile', '/nonexistent/ca.pem']],
  [TOOLS, ['-t', 'a', '-m', 'x', '-e', 'r', '--tls-version', 'tlsv9']],
  [TOOLS, ['-t', 'a', '-m', 'x', '-e', 'r', '--keyform', 'der', '--cert', 'c', '--key', 'k']],
  [['pub'], ['-t', 'a']],
  [['pub'], ['-m', 'x']],
  [['pub'], ['-t', 'a/+', '-m', 'x']],
  [['pub'], ['-t', 'a', '-m', 'x', '-n']],
  [['pub'], ['-t', 'a', '-l', '-s']],
  [['pub'], ['-t', 'a', '-f', '/nonexistent/file']],
  [['pub'], ['-t', 'a', '--repeat', '0']],
  [['pub'], ['-t', 'a', '--repeat-delay', '-1']],
  [['pub'], ['-t', 'a', '-m', 'x', '-i', '']],
  [['sub'], ['-t', 'a#']],
  [['sub'], ['-t', 'a/+b']],
  [['sub'], ['-T', 'a#', '-t', 'a']],
  [['sub'], ['-U', 'a+', '-t', 'a']],
  [['sub'], ['-v']],
  [['sub'], ['-C', '0', '-t', 'a']],
  [['sub'], ['-W', '0', '-t', 'a']],
  [['sub'], ['--random-filter', '0', '-t', 'a']],
  [['sub'], ['--random-filter', '200', '-t', 'a']],
  [['sub'], ['-R', '--retained-only', '-t', 'a']],
  [['sub'], ['-F', '%z', '-t', 'a']],
  [['sub'], ['-F', 'abc%', '-t', 'a']],
  [['sub'], ['-F', '%-', '-t', 'a']],
  [['sub'], ['-F', '%10.', '-t', 'a']],
  [['sub'], ['-F', 'x\\q', '-t', 'a']],
  [['sub'], ['-F', 'x\\', '-t', 'a']],
  [['sub'], ['-F', '@', '-t', 'a']],
  [['sub'], ['-t', 'a', '-i', '']],
  [['rr'], ['-t', 'a', '-m', 'x']],
  [['rr'], ['-t', 'a', '-e', 'r/#', '-m', 'x']],
  [['rr'], ['-e', 'r', '-m', 'x']],
  [['rr'], ['-t', 'a', '-e', 'r', '-m', 'x', '-D', 'publish', 'response-topic', 'other']],
];

describe('bad values and combinations', skip, () => {
  for (const [tools, argv] of BAD) {
    for (const tool of tools) {
      test(`${PROGRAM[tool]} ${argv.join(' ')}`, async () => {
        await same(tool, argv);
      });
    }
  }
});

describe('where 2.0.22 differs from Debian 2.0.11 (§3.17)', () => {
  const usage = (tool: Tool): string => `\nUse '${PROGRAM[tool]} --help' to see usage.\n`;
  const emptyTopic = (tool: Tool): string =>
    tool === 'sub'
      ? "Error: Invalid subscription topic '', are all '+' and '#' wildcards correct?\n"
      : "Error: Invalid publish topic '', does it contain '+' or '#'?\n";
  // 2.0.21 refuses an empty topic at argument time; 2.0.11 accepted it and failed later
  // with "Error: Invalid input. Does your topic contain '+' or '#'?" and status 0.
  for (const tool of TOOLS) {
    test(`${PROGRAM[tool]} -t '' is refused with usage and status 1`, async () => {
      const outcome = await ours(tool, ['-t', '']);
      assert.deepEqual(outcome, { code: 1, stdout: '', stderr: emptyTopic(tool) + usage(tool) });
    });
    test(`${PROGRAM[tool]} -L with an empty topic is refused the same way`, async () => {
      const outcome = await ours(tool, ['-L', 'mqtt://host:1883/']);
      assert.deepEqual(outcome, { code: 1, stdout: '', stderr: emptyTopic(tool) + usage(tool) });
    });
  }
  // 2.0.12 checks the Payload Format Indicator (0 or 1) and 2.0.20 the Response Topic in
  // client-side property lists; 2.0.11 sent them to the broker as given.
  test('mosquitto_rr: a will Payload Format Indicator of 2 is refused', async () => {
    const outcome = await ours('rr', [
      '-D',
      'will',
      'payload-format-indicator',
      '2',
      '-t',
      'a',
      '-m',
      'x',
      '-e',
      'r',
    ]);
    assert.deepEqual(outcome, {
      code: 1,
      stdout: '',
      stderr:
        'Error in Will properties: A network protocol error occurred when communicating with the broker.\n' +
        usage('rr'),
    });
  });
  test('mosquitto_pub: an invalid PUBLISH Response Topic is refused', async () => {
    const outcome = await ours('pub', [
      '-D',
      'publish',
      'response-topic',
      'a/#',
      '-t',
      'a',
      '-m',
      'x',
    ]);
    assert.equal(outcome.code, 1);
    assert.equal(
      outcome.stderr,
      'Error in PUBLISH properties: A network protocol error occurred when communicating with the broker.\n' +
        usage('pub'),
    );
  });
});

describe('the option table', () => {
  test('every name is unique and every tool lists each option at most once', () => {
    const seen = new Set<string>();
    for (const spec of OPTIONS) {
      for (const name of spec.names) {
        assert.ok(!seen.has(name), `${name} twice`);
        seen.add(name);
        assert.match(name, /^-[A-Za-z]$|^--[a-z0-9-]+$/);
      }
    }
  });

  test('no bundling, no --name=value: those are unknown options', async () => {
    for (const argv of [['-dv'], ['--qos=1'], ['-q1']]) {
      const outcome = await ours('sub', argv);
      assert.equal(
        outcome.stderr,
        `Error: Unknown option '${argv[0] ?? ''}'.\n\nUse 'mosquitto_sub --help' to see usage.\n`,
      );
    }
  });

  test('a value may start with "-"', async () => {
    const outcome = await ours('pub', ['-t', 'a', '-m', '-d', '-p', '-1']);
    assert.equal(
      outcome.stderr,
      "Error: Invalid port given: -1\n\nUse 'mosquitto_pub --help' to see usage.\n",
    );
  });
});
