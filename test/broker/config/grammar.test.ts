/**
 * The mosquitto.conf grammar of features §0, one rule per test: how lines, comments,
 * names and values are read, duplicates, booleans, integers, unknown options.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/broker/config/errors.ts';
import { loadConfigFile, parseConfigText } from '../../../src/broker/config/parse.ts';
import type { LoadedConfig } from '../../../src/broker/config/parse.ts';
import { strtolAuto } from '../../../src/broker/config/values.ts';

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

function unknown(name: string, line: number): string[] {
  return [`Error: Unknown configuration variable "${name}".`, `Error found at test.conf:${line}.`];
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-config-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

describe('line syntax', () => {
  test('the name ends at the first space; a tab makes it part of the name', () => {
    assert.equal(parse('sys_interval 5\n').config.sysInterval, 5);
    assert.deepEqual(errorLines('sys_interval\t5\n'), unknown('sys_interval\t5', 1));
  });

  test('leading spaces before the name are skipped, leading tabs are not', () => {
    assert.equal(parse('   sys_interval 7\n').config.sysInterval, 7);
    assert.deepEqual(errorLines('\tsys_interval 7\n'), unknown('\tsys_interval', 1));
  });

  test('several spaces between name and value are fine for token values', () => {
    assert.equal(parse('sys_interval     9\n').config.sysInterval, 9);
  });

  test('blank lines, lines of spaces and CRLF endings are skipped but counted', () => {
    const text = '\n\r\n   \nsys_interval 3\r\n\r\n  \r\nfoo\r\n';
    assert.deepEqual(errorLines(text), unknown('foo', 7));
  });

  test('CRLF is stripped from values', () => {
    assert.equal(parse('password_file /etc/pw\r\n').config.security.passwordFile, '/etc/pw');
  });

  test('a last line without a newline is read', () => {
    assert.equal(parse('sys_interval 4').config.sysInterval, 4);
  });

  test('a line starting with a carriage return is ignored entirely', () => {
    assert.equal(parse('\rfoo bar\n').config.sysInterval, 10);
  });

  test('a NUL byte ends the line, as C strings do', () => {
    assert.equal(parse(Buffer.from('sys_interval 8\0garbage\n')).config.sysInterval, 8);
  });
});

describe('comments', () => {
  test('a line is a comment only when its first byte is #', () => {
    assert.equal(parse('# sys_interval 5\n#foo\n').config.sysInterval, 10);
  });

  test('an indented comment is an unknown option "#"', () => {
    assert.deepEqual(errorLines('sys_interval 2\n  # note\n'), unknown('#', 2));
  });

  test('string values keep a trailing "# comment"', () => {
    const { config } = parse('password_file /x # note\n');
    assert.equal(config.security.passwordFile, '/x # note');
  });

  test('listener stops at a second argument starting with #', () => {
    const { config } = parse('listener 18830 # all interfaces\n');
    assert.equal(config.listeners[0]?.bindAddress, null);
  });

  test('token values ignore what follows the token', () => {
    const { config } = parse('listener 18830\nallow_anonymous true # yes\nmax_qos 1 extra\n');
    assert.equal(config.security.allowAnonymous, true);
    assert.equal(config.listeners[0]?.maxQos, 1);
  });
});

describe('string values', () => {
  test('are the rest of the line, trimmed of blanks at both ends', () => {
    const { config } = parse('acl_file \t  /etc/mosquitto/acl file \t \n');
    assert.equal(config.security.aclFile, '/etc/mosquitto/acl file');
  });

  test('missing or blank values are "Empty" errors', () => {
    const empty = [
      'Error: Empty password_file value in configuration.',
      'Error found at test.conf:1.',
    ];
    assert.deepEqual(errorLines('password_file\n'), empty);
    assert.deepEqual(errorLines('password_file \n'), empty);
    assert.deepEqual(errorLines('password_file    \n'), empty);
  });

  test('must be valid UTF-8 without control characters', () => {
    const malformed = ['Error: Malformed UTF-8 in configuration.', 'Error found at test.conf:1.'];
    assert.deepEqual(errorLines('password_file /a\tb\n'), malformed);
    assert.deepEqual(errorLines(Buffer.from('password_file /a\xffb\n', 'latin1')), malformed);
    assert.deepEqual(errorLines(Buffer.from('password_file /a\xc0\x80b\n', 'latin1')), malformed);
    assert.equal(parse('password_file /tmp/grüße\n').config.security.passwordFile, '/tmp/grüße');
  });

  test('over 65535 bytes fails without a message, only the location', () => {
    assert.deepEqual(errorLines(`password_file /${'a'.repeat(65535)}\n`), [
      'Error found at test.conf:1.',
    ]);
    const longest = `/${'a'.repeat(65534)}`;
    assert.equal(parse(`password_file ${longest}\n`).config.security.passwordFile, longest);
  });
});

describe('duplicates', () => {
  test('a single-valued string option set twice is fatal', () => {
    assert.deepEqual(errorLines('persistence_location /a\npersistence_location /b\n'), [
      'Error: Duplicate persistence_location value in configuration.',
      'Error found at test.conf:2.',
    ]);
  });

  test('ints and bools: the last one wins', () => {
    const { config } = parse(
      'sys_interval 5\nsys_interval 6\nretain_available false\nretain_available true\n',
    );
    assert.equal(config.sysInterval, 6);
    assert.equal(config.retainAvailable, true);
  });

  test('per_listener_settings: one password_file per listener is not a duplicate', () => {
    const { config } = parse(
      'per_listener_settings true\nlistener 18831\npassword_file /a\nlistener 18832\npassword_file /b\n',
    );
    assert.deepEqual(
      config.listeners.map((l) => l.security.passwordFile),
      ['/a', '/b'],
    );
  });

  test('duplicates are detected across include_dir files', (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'password_file /b\n');
    writeFileSync(join(dir, 'main.conf'), `password_file /a\ninclude_dir ${dir}/conf.d\n`);
    assert.throws(
      () => loadConfigFile(join(dir, 'main.conf')),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.errorLines, [
          'Error: Duplicate password_file value in configuration.',
          `Error found at ${dir}/conf.d/a.conf:1.`,
          `Error found at ${join(dir, 'main.conf')}:2.`,
        ]);
        assert.equal(error.file, `${dir}/conf.d/a.conf`);
        assert.equal(error.line, 1);
        return true;
      },
    );
  });
});

describe('booleans', () => {
  test('only true, false, 1 and 0', () => {
    assert.equal(parse('retain_available 0\n').config.retainAvailable, false);
    assert.equal(parse('retain_available 1\n').config.retainAvailable, true);
    assert.equal(parse('retain_available false\n').config.retainAvailable, false);
    for (const bad of ['True', 'yes', 'on', 'FALSE', '01']) {
      assert.deepEqual(errorLines(`retain_available ${bad}\n`), [
        `Error: Invalid retain_available value (${bad}).`,
        'Error found at test.conf:1.',
      ]);
    }
  });

  test('a missing value is an "Empty" error', () => {
    assert.deepEqual(errorLines('retain_available\n'), [
      'Error: Empty retain_available value in configuration.',
      'Error found at test.conf:1.',
    ]);
  });

  test('messages use the name as written for aliases', () => {
    assert.deepEqual(errorLines('retained_persistence maybe\n'), [
      'Error: Invalid retained_persistence value (maybe).',
      'Error found at test.conf:1.',
    ]);
  });
});

describe('integers', () => {
  test('atoi(): trailing junk ignored, garbage is 0, 32-bit wrap-around', () => {
    assert.equal(parse('max_queued_messages 25abc\n').config.maxQueuedMessages, 25);
    assert.equal(parse('max_queued_messages abc\n').config.maxQueuedMessages, 0);
    assert.equal(parse('max_queued_messages +42\n').config.maxQueuedMessages, 42);
    assert.equal(parse('sys_interval 4294967306\n').config.sysInterval, 10);
  });

  test('range checks name the value read', () => {
    assert.deepEqual(errorLines('sys_interval 65536\n'), [
      'Error: Invalid sys_interval value (65536).',
      'Error found at test.conf:1.',
    ]);
  });

  test("strtol(…, 0), which Mosquitto 2.1's stricter integers use", () => {
    const cases: readonly (readonly [string, bigint, number])[] = [
      ['42', 42n, 2],
      ['-42', -42n, 3],
      ['+7', 7n, 2],
      ['\t 9', 9n, 3],
      ['0', 0n, 1],
      ['010', 8n, 3],
      ['08', 0n, 1],
      ['0x1F', 31n, 4],
      ['0X1f', 31n, 4],
      ['-0x10', -16n, 5],
      ['0x', 0n, 1],
      ['0xg', 0n, 1],
      ['5x', 5n, 1],
      ['5\t', 5n, 1],
      ['99999999999999999999', 99999999999999999999n, 20],
      ['', 0n, 0],
      ['+', 0n, 0],
      ['-', 0n, 0],
      ['x1', 0n, 0],
    ];
    for (const [text, value, end] of cases) {
      assert.deepEqual(strtolAuto(text), { value, end }, JSON.stringify(text));
    }
  });
});

describe('unknown options', () => {
  test('are fatal with exit status 3, even when a value follows', () => {
    const error = failure('sys_interval 3\nfoo bar baz\n');
    assert.deepEqual(error.errorLines, unknown('foo', 2));
    assert.equal(error.exitCode, 3);
    assert.equal(error.file, 'test.conf');
    assert.equal(error.line, 2);
  });

  test('notices logged before the error come first in messages', () => {
    const error = failure('port 18833\nfoo\n');
    assert.deepEqual(
      error.messages.map((m) => m.type),
      ['notice', 'error', 'error'],
    );
  });

  test('every Mosquitto 2.0 option is known (TLS, bridges, plugins...)', () => {
    const { config, warnings } = parse(
      'listener 18834\ncertfile /c\nkeyfile /k\nplugin /p.mjs\nplugin_opt_config_file /x\n' +
        'connection b\naddress 10.0.0.1:1884\ntopic # both 0\nwebsockets_log_level 1\n',
    );
    assert.ok(config.listeners[0]?.tls?.certfile === '/c');
    // Plugins load at start-up (a JavaScript one here): no warning for their lines.
    assert.ok(!warnings.some((w) => w.includes("'plugin' option")));
    // Bridges run (broker/bridge/): no warning for their options.
    assert.ok(!warnings.some((w) => w.includes("'connection' option")));
    assert.equal(config.bridges?.[0]?.name, 'b');
    assert.ok(config.unimplementedOptions?.includes('websockets_log_level'));
  });

  test('an unimplemented option is warned about once', () => {
    const { warnings } = parse(
      'user a\nlistener 18835\ntls_engine_kpass_sha1 ab\nlistener 18836\ntls_engine_kpass_sha1 ab\n',
    );
    assert.equal(warnings.filter((w) => w.includes("'tls_engine_kpass_sha1'")).length, 1);
  });
});
