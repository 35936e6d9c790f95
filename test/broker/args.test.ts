/**
 * The `mosquitto` command line: results, help text and errors, compared with Debian's
 * real binary where it is installed (2.0.11 there: `-h` exits 3 and `--version` is an
 * unknown option, features §3.17; we follow 2.0.22).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BROKER_VERSION_TEXT, IMPLEMENTATION_VERSION } from '../../src/broker/version.ts';
import { BROKER_VERSION, parseBrokerArgs, usageText, versionText } from '../../src/broker/args.ts';
import type { ArgsResult } from '../../src/broker/args.ts';
import {
  compareVersions,
  mosquittoSkip,
  mosquittoVersion,
  requiredPath,
} from '../helpers/mosquitto.ts';

const USAGE = `mosquitto version 2.0.22 (mosquitto-ts 0.1.0)

mosquitto is an MQTT v5.0/v3.1.1/v3.1 broker.

Usage: mosquitto [-c config_file] [-d] [-h] [-p port]

 -c : specify the broker config file.
 -d : put the broker into the background after starting.
 -h : display this help.
 -p : start the broker listening on the specified port.
      Not recommended in conjunction with the -c option.
 -v : verbose mode - enable all logging types. This overrides
      any logging options given in the config file.

See https://mosquitto.org/ for more information.

`;

function exitOf(result: ArgsResult): Extract<ArgsResult, { kind: 'exit' }> {
  assert.equal(result.kind, 'exit');
  return result;
}

describe('parseBrokerArgs', () => {
  test('no arguments: default config', () => {
    assert.deepEqual(parseBrokerArgs([]), {
      kind: 'run',
      args: { configFile: null, daemon: false, ports: [], verbose: false },
    });
  });

  test('long and short forms, repeated -p, last -c wins', () => {
    assert.deepEqual(
      parseBrokerArgs([
        '-c',
        'a.conf',
        '--port',
        '1884',
        '-d',
        '-p',
        '1885abc',
        '--verbose',
        '--config-file',
        'b.conf',
      ]),
      {
        kind: 'run',
        args: { configFile: 'b.conf', daemon: true, ports: [1884, 1885], verbose: true },
      },
    );
  });

  test('a value may look like an option', () => {
    const result = parseBrokerArgs(['-c', '-v']);
    assert.ok(result.kind === 'run' && result.args.configFile === '-v');
  });

  test('-h and --help: usage on stdout, exit 0, nothing after is read', () => {
    for (const flag of ['-h', '--help']) {
      assert.deepEqual(exitOf(parseBrokerArgs(['-v', flag, '--bogus'])), {
        kind: 'exit',
        exitCode: 0,
        stdout: USAGE,
        stderr: '',
        logError: null,
      });
    }
    assert.equal(usageText(), USAGE);
  });

  test('--version', () => {
    const result = exitOf(parseBrokerArgs(['--version']));
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, versionText());
    assert.match(result.stdout, /^mosquitto 2\.0\.22\n/);
    assert.equal(BROKER_VERSION, '2.0.22');
  });

  test("our own version is package.json's, and named after Mosquitto's", () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
    ) as {
      version: string;
    };
    assert.equal(IMPLEMENTATION_VERSION, pkg.version);
    assert.equal(BROKER_VERSION_TEXT, `2.0.22 (mosquitto-ts ${pkg.version})`);
  });

  test('unknown option: error on stderr, usage on stdout, exit 3', () => {
    assert.deepEqual(exitOf(parseBrokerArgs(['-c', 'x.conf', '-x'])), {
      kind: 'exit',
      exitCode: 3,
      stdout: USAGE,
      stderr: "Error: Unknown option '-x'.\n",
      logError: null,
    });
  });

  test('logged errors, exit 3', () => {
    const logged = (argv: string[]): string | null => exitOf(parseBrokerArgs(argv)).logError;
    assert.equal(logged(['-p']), 'Error: -p argument given, but no port specified.');
    assert.equal(logged(['-c']), 'Error: -c argument given, but no config file specified.');
    assert.equal(
      logged(['--config-file']),
      'Error: -c argument given, but no config file specified.',
    );
    assert.equal(logged(['-p', '0']), 'Error: Invalid port specified (0).');
    assert.equal(logged(['-p', 'abc']), 'Error: Invalid port specified (0).');
    assert.equal(logged(['--port', '65536']), 'Error: Invalid port specified (65536).');
    const eleven = Array.from({ length: 11 }, (_, i) => ['-p', String(20000 + i)]).flat();
    assert.equal(logged(eleven), 'Error: Only 10 ports can be specified on the command line.');
    assert.equal(exitOf(parseBrokerArgs(['-p', '0'])).exitCode, 3);
    assert.ok(parseBrokerArgs(eleven.slice(0, 20)).kind === 'run');
  });
});

describe('compared with the real mosquitto', mosquittoSkip(), () => {
  function real(argv: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(requiredPath('mosquitto'), argv, { encoding: 'utf8', timeout: 5000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** The usage text with the version line made neutral. */
  const neutral = (text: string): string =>
    text.replace(/^mosquitto version .+\n/, 'mosquitto version X\n');

  test('-h prints the same usage (exit 3 before 2.0.22, 0 since)', () => {
    const theirs = real(['-h']);
    const ours = exitOf(parseBrokerArgs(['-h']));
    assert.equal(neutral(ours.stdout), neutral(theirs.stdout));
    assert.equal(theirs.stderr, '');
    const expected = compareVersions(mosquittoVersion(), '2.0.22') >= 0 ? 0 : 3;
    assert.equal(theirs.status, expected);
  });

  test('unknown option', () => {
    const theirs = real(['-x']);
    const ours = exitOf(parseBrokerArgs(['-x']));
    assert.equal(theirs.status, ours.exitCode);
    assert.equal(theirs.stderr, ours.stderr);
    assert.equal(neutral(theirs.stdout), neutral(ours.stdout));
  });

  for (const argv of [
    ['-p'],
    ['-p', '0'],
    ['-p', 'abc'],
    ['--port', '70000'],
    ['-c'],
    ['--config-file'],
  ]) {
    test(`mosquitto ${argv.join(' ')}`, () => {
      const theirs = real(argv);
      const ours = exitOf(parseBrokerArgs(argv));
      assert.equal(theirs.status, ours.exitCode);
      assert.equal(theirs.stdout, '');
      assert.match(theirs.stderr, /^\d+: /);
      assert.equal(theirs.stderr.replace(/^\d+: /, ''), `${ours.logError ?? ''}\n`);
    });
  }

  test('eleven ports', () => {
    const argv = Array.from({ length: 11 }, (_, i) => ['-p', String(30000 + i)]).flat();
    const theirs = real(argv);
    const ours = exitOf(parseBrokerArgs(argv));
    assert.equal(theirs.status, 3);
    assert.equal(theirs.stderr.replace(/^\d+: /, ''), `${ours.logError ?? ''}\n`);
  });
});
