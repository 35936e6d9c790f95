/**
 * The structural rules of features §0: include_dir, listener scope and the default
 * listener, local-only mode, the allow_anonymous default, the per_listener_settings
 * placement rule, and unreadable files.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/broker/config/errors.ts';
import {
  compareIncludeNames,
  loadConfigFile,
  parseConfigText,
} from '../../../src/broker/config/parse.ts';
import type { LoadedConfig } from '../../../src/broker/config/parse.ts';

function parse(text: string | Buffer, ports: readonly number[] = []): LoadedConfig {
  return parseConfigText(text, 'test.conf', ports);
}

/** The error lines of a text that must fail. */
function failure(text: string | Buffer): ConfigError {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

function errorLines(text: string | Buffer): readonly string[] {
  return failure(text).errorLines;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-config-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

describe('include_dir', () => {
  test('reads *.conf files, case-insensitive order, uppercase first on ties', (t) => {
    const dir = tempDir(t);
    const inc = join(dir, 'inc');
    mkdirSync(inc);
    const names = ['b.conf', 'A.conf', '01.conf', 'a.conf', 'B.conf', '00.conf', '.conf', 'x.txt'];
    for (const name of names) writeFileSync(join(inc, name), 'retry_interval 5\n');
    writeFileSync(join(dir, 'main.conf'), `include_dir ${inc}\n`);
    const { messages } = loadConfigFile(join(dir, 'main.conf'));
    const loaded = messages
      .filter((m) => m.type === 'information')
      .map((m) => m.text.replace(`Loading config file ${inc}/`, ''));
    assert.deepEqual(loaded, ['00.conf', '01.conf', 'A.conf', 'a.conf', 'B.conf', 'b.conf']);
  });

  test('the comparison itself', () => {
    const sorted = ['b.conf', 'a.conf', 'B.conf', 'A.conf', 'ab.conf', 'a_.conf'].sort(
      compareIncludeNames,
    );
    // '_' sorts after letters: toupper('b') is 'B' (0x42), '_' is 0x5f.
    assert.deepEqual(sorted, ['A.conf', 'a.conf', 'ab.conf', 'a_.conf', 'B.conf', 'b.conf']);
  });

  test('several include_dir lines are processed in order, between the main lines', (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'one'));
    mkdirSync(join(dir, 'two'));
    writeFileSync(join(dir, 'one', 'x.conf'), 'listener 18841\n');
    writeFileSync(join(dir, 'two', 'x.conf'), 'listener 18843\n');
    writeFileSync(
      join(dir, 'main.conf'),
      `include_dir ${dir}/two\nlistener 18842\ninclude_dir ${dir}/one\n`,
    );
    const { config } = loadConfigFile(join(dir, 'main.conf'));
    assert.deepEqual(
      config.listeners.map((l) => l.port),
      [18843, 18842, 18841],
    );
  });

  test('is ignored inside an included file', (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'inc'));
    writeFileSync(join(dir, 'inc', 'x.conf'), 'include_dir /does/not/exist\nsys_interval 2\n');
    writeFileSync(join(dir, 'main.conf'), `include_dir ${dir}/inc\n`);
    assert.equal(loadConfigFile(join(dir, 'main.conf')).config.sysInterval, 2);
  });

  test('an unreadable directory is fatal; the value is not trimmed', () => {
    assert.deepEqual(errorLines('include_dir /does/not/exist\n'), [
      "Error: Unable to open include_dir '/does/not/exist'.",
      'Error found at test.conf:1.',
    ]);
    assert.deepEqual(errorLines('include_dir  /tmp\n'), [
      "Error: Unable to open include_dir ' /tmp'.",
      'Error found at test.conf:1.',
    ]);
  });

  test('each included file starts at the default listener', (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'inc'));
    writeFileSync(join(dir, 'inc', 'x.conf'), 'max_connections 5\n');
    writeFileSync(join(dir, 'main.conf'), `listener 18844\ninclude_dir ${dir}/inc\n`);
    const { config } = loadConfigFile(join(dir, 'main.conf'));
    // max_connections went to the default listener, which therefore exists (on 1883).
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.maxConnections]),
      [
        [18844, -1],
        [1883, 5],
      ],
    );
  });
});

describe('listener scope and the default listener', () => {
  test('listener options apply to the most recent listener', () => {
    const { config } = parse('listener 18845\nmax_qos 1\nlistener 18846 127.0.0.1\nmax_qos 0\n');
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.bindAddress, l.maxQos]),
      [
        [18845, null, 1],
        [18846, '127.0.0.1', 0],
      ],
    );
  });

  test('port creates the default listener, after the others', () => {
    const { config, messages } = parse('listener 18847\nport 18848\n');
    assert.deepEqual(
      config.listeners.map((l) => l.port),
      [18847, 18848],
    );
    assert.equal(messages[0]?.type, 'notice');
  });

  test('a listener option before the first listener creates the default listener on 1883', () => {
    const { config } = parse('max_connections 7\nlistener 18849\n');
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.maxConnections]),
      [
        [18849, -1],
        [1883, 7],
      ],
    );
  });

  test('max_topic_alias before the first listener does not create it', () => {
    const { config } = parse('max_topic_alias 5\nlistener 18850\n');
    assert.deepEqual(
      config.listeners.map((l) => l.port),
      [18850],
    );
  });

  test('per-listener password_file before the first listener creates it', () => {
    const { config } = parse('per_listener_settings true\npassword_file /pw\nlistener 18851\n');
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.security.passwordFile]),
      [
        [18851, null],
        [1883, '/pw'],
      ],
    );
  });

  test('bind_address sets the default listener host', () => {
    const { config } = parse('bind_address 127.0.0.1\n');
    assert.equal(config.localOnly, false);
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.bindAddress]),
      [[1883, '127.0.0.1']],
    );
  });
});

describe('local-only mode', () => {
  test('without listener, port or bind_address: 127.0.0.1 and ::1 on 1883', () => {
    const { config } = parse('sys_interval 5\n');
    assert.equal(config.localOnly, true);
    assert.deepEqual(
      config.listeners.map((l) => [l.bindAddress, l.port]),
      [
        ['127.0.0.1', 1883],
        ['::1', 1883],
      ],
    );
    assert.equal(config.security.allowAnonymous, true);
  });

  test('-p ports replace 1883 in local-only mode', () => {
    const { config } = parse('', [18852, 18853]);
    assert.deepEqual(
      config.listeners.map((l) => `${l.bindAddress ?? ''}:${l.port}`),
      ['127.0.0.1:18852', '::1:18852', '127.0.0.1:18853', '::1:18853'],
    );
  });

  test('-p ports are ignored once the file configures a listener', () => {
    const { config } = parse('listener 18854\n', [18855]);
    assert.deepEqual(
      config.listeners.map((l) => l.port),
      [18854],
    );
  });

  test('listener options without any listener do not leave local-only mode', () => {
    const { config } = parse('max_connections 3\n');
    assert.equal(config.localOnly, true);
    assert.deepEqual(
      config.listeners.map((l) => l.maxConnections),
      [-1, -1],
    );
  });

  test('an explicit allow_anonymous false holds in local-only mode', () => {
    assert.equal(parse('allow_anonymous false\n').config.security.allowAnonymous, false);
  });
});

describe('allow_anonymous default', () => {
  test('false as soon as a listener, port or bind_address is configured', () => {
    for (const line of ['listener 18856', 'port 18857', 'bind_address 127.0.0.1']) {
      const { config } = parse(`${line}\n`);
      assert.equal(config.security.allowAnonymous, false, line);
      assert.equal(config.listeners[0]?.security.allowAnonymous, false, line);
    }
  });

  test('per_listener_settings: each listener defaults to false, the default listener too', () => {
    const { config } = parse(
      'per_listener_settings true\nport 18858\nlistener 18859\nallow_anonymous true\n',
    );
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.security.allowAnonymous]),
      [
        [18859, true],
        [18858, false],
      ],
    );
  });
});

describe('per_listener_settings placement', () => {
  test('after a security option it is fatal', () => {
    for (const option of [
      'allow_anonymous true',
      'password_file /x',
      'acl_file /x',
      'auto_id_prefix x-',
      'allow_zero_length_clientid false',
      'check_retain_source false',
      'plugin /p.mjs',
    ]) {
      assert.deepEqual(errorLines(`${option}\nper_listener_settings true\n`), [
        'Error: per_listener_settings must be set before any other security settings.',
        'Error found at test.conf:2.',
      ]);
    }
  });

  test('after other options, or set to false, it is fine', () => {
    assert.equal(
      parse('listener 18860\nper_listener_settings true\n').config.perListenerSettings,
      true,
    );
    assert.equal(
      parse('allow_anonymous true\nper_listener_settings false\n').config.perListenerSettings,
      false,
    );
  });

  test('security options are then per listener, global otherwise', () => {
    const per = parse('per_listener_settings true\nlistener 18861\nacl_file /a\nlistener 18862\n');
    assert.deepEqual(
      per.config.listeners.map((l) => l.security.aclFile),
      ['/a', null],
    );
    const global = parse('listener 18863\nacl_file /a\nlistener 18864\n');
    assert.deepEqual(
      global.config.listeners.map((l) => l.security.aclFile),
      ['/a', '/a'],
    );
  });
});

describe('files', () => {
  test('a missing file: one line, no location', () => {
    assert.throws(
      () => loadConfigFile('/does/not/exist.conf'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.errorLines.join('|') === 'Error: Unable to open config file /does/not/exist.conf.' &&
        error.line === 0,
    );
  });

  test('a directory', (t) => {
    const dir = tempDir(t);
    assert.throws(
      () => loadConfigFile(dir),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.errorLines.join('|') === `Error: Config file ${dir} is a directory.`,
    );
  });

  test('an error in an included file reports both locations', (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'inc'));
    writeFileSync(join(dir, 'inc', '01.conf'), 'listener 18865\n\nbad_opt 1\n');
    const main = join(dir, 'main.conf');
    writeFileSync(main, `# main\ninclude_dir ${dir}/inc\n`);
    assert.throws(
      () => loadConfigFile(main),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(
          error.messages.map((m) => m.text),
          [
            `Loading config file ${dir}/inc/01.conf`,
            'Error: Unknown configuration variable "bad_opt".',
            `Error found at ${dir}/inc/01.conf:3.`,
            `Error found at ${main}:2.`,
          ],
        );
        return true;
      },
    );
  });
});
