/**
 * Bad configuration files fed to Debian's real Mosquitto and to our parser: the lines
 * printed (timestamps removed), their order and the exit status must be the same.
 *
 * Every case fails to load, so the real broker exits before opening a socket; `-p` with
 * a random port keeps it off 1883 even if a case were accepted by mistake. The cases
 * avoid the few places where 2.0.11 (Debian 12) and 2.0.22 differ (features §3.17 and
 * src/conf.c: max_keepalive < 10, retain_expiry_interval, the 2.0.21 TLS checks); those
 * are covered by options.test.ts with the 2.0.22 texts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../../src/broker/config/errors.ts';
import { loadConfigFile } from '../../../src/broker/config/parse.ts';
import { mosquittoSkip, requiredPath } from '../../helpers/mosquitto.ts';

interface Case {
  readonly name: string;
  /** The main file's content, or files by relative path (the first is loaded). `@` is the dir. */
  readonly files: string | Readonly<Record<string, string>>;
}

const CASES: readonly Case[] = [
  { name: 'unknown option', files: 'sys_interval 5\nfoo bar\n' },
  { name: 'indented comment', files: '# ok\n  # not a comment\n' },
  { name: 'tab after the name', files: 'port\t1884\n' },
  { name: 'CRLF, blank lines and a CR line are counted', files: '\r\n\n  \r\n\rfoo\r\nbar\r\n' },
  { name: 'invalid boolean', files: 'allow_anonymous yes\n' },
  { name: 'empty boolean', files: 'allow_anonymous\n' },
  { name: 'alias in a message', files: 'retained_persistence maybe\n' },
  { name: 'duplicate string', files: 'password_file /a\npassword_file /b\n' },
  { name: 'empty string', files: 'password_file    \n' },
  { name: 'control character in a string', files: 'password_file /a\tb\n' },
  { name: 'string over 65535 bytes', files: `acl_file /${'x'.repeat(65535)}\n` },
  { name: 'per_listener_settings too late', files: 'acl_file /a\nper_listener_settings true\n' },
  { name: 'listener without port', files: 'listener\n' },
  { name: 'listener port 0 without path', files: 'listener 0\n' },
  { name: 'listener port out of range', files: 'listener 70000\n' },
  { name: 'port notices then error', files: 'port 18890\nport 18891\nfoo\n' },
  { name: 'bind_address duplicate', files: 'bind_address 127.0.0.1\nbind_address 127.0.0.1\n' },
  { name: 'max_packet_size', files: 'max_packet_size 19\n' },
  { name: 'message_size_limit', files: 'message_size_limit -1\n' },
  { name: 'max_qos', files: 'listener 18892\nmax_qos 3\n' },
  { name: 'max_topic_alias', files: 'listener 18893\nmax_topic_alias 65536\n' },
  { name: 'max_inflight_messages', files: 'max_inflight_messages 70000\n' },
  { name: 'sys_interval', files: 'sys_interval 4294967295\n' },
  { name: 'max_keepalive', files: 'max_keepalive 65536\n' },
  { name: 'mount_point without listener', files: 'mount_point a/\n' },
  { name: 'mount_point with wildcard', files: 'listener 18894\nmount_point a/#\n' },
  { name: 'socket_domain', files: 'listener 18895\nsocket_domain ipv5\n' },
  { name: 'protocol', files: 'listener 18896\nprotocol mqttsn\n' },
  {
    name: 'tolerated empty values',
    files: 'max_connections\nprotocol\nlog_type\npersistent_client_expiration\nfoo\n',
  },
  { name: 'log_dest', files: 'log_dest paper\n' },
  { name: 'log_dest file twice', files: 'log_dest file /tmp/a.log\nlog_dest file /tmp/b.log\n' },
  { name: 'log_type', files: 'log_type loud\n' },
  { name: 'persistent_client_expiration', files: 'persistent_client_expiration 5s\n' },
  { name: 'deprecations and warnings', files: 'retry_interval 5\nclientid_prefixes a\nfoo\n' },
  { name: 'plugin option without plugin', files: 'plugin_opt_key value\n' },
  { name: 'plugin option key too short', files: 'plugin /p.so\nplugin_opt_ab value\n' },
  { name: 'psk_hint then certfile', files: 'listener 18897\npsk_hint h\ncertfile /c\n' },
  { name: 'bridge option without connection', files: 'topic a/#\n' },
  { name: 'bridge without address (after reading)', files: 'connection b\n' },
  { name: 'bridge without topic', files: 'connection b\naddress 127.0.0.1:1884\n' },
  { name: 'bridge name twice', files: 'connection b\nconnection b\n' },
  { name: 'bridge topic direction', files: 'connection b\ntopic a sideways\n' },
  { name: 'bridge topic qos', files: 'connection b\ntopic a in 3\n' },
  { name: 'bridge start_type', files: 'connection b\nstart_type manual\n' },
  { name: 'bridge keepalive', files: 'connection b\nkeepalive_interval 70000\n' },
  {
    name: 'bridge_protocol_version with a trailing space',
    files: 'connection b\nbridge_protocol_version mqttv50 \n',
  },
  {
    name: 'include_dir: error in an included file',
    files: {
      'main.conf': 'sys_interval 5\ninclude_dir @/inc\n',
      'inc/01.conf': 'listener 18898\n\nbad_opt 1\n',
    },
  },
  {
    name: 'include_dir: order and messages',
    files: {
      'main.conf': 'include_dir @/inc\n',
      'inc/b.conf': 'retry_interval 1\n',
      'inc/A.conf': 'retry_interval 1\n',
      'inc/a.conf': 'retry_interval 1\n',
      'inc/00.conf': 'retry_interval 1\n',
      'inc/B.conf': 'nope\n',
      'inc/notes.txt': 'nope\n',
    },
  },
  {
    name: 'include_dir: duplicate across files',
    files: { 'main.conf': 'acl_file /a\ninclude_dir @/inc\n', 'inc/x.conf': 'acl_file /b\n' },
  },
  {
    name: 'include_dir: ignored inside an included file',
    files: {
      'main.conf': 'include_dir @/inc\nfoo\n',
      'inc/x.conf': 'include_dir /does/not/exist\n',
    },
  },
  { name: 'include_dir: missing directory', files: 'include_dir /does/not/exist\n' },
];

/** Writes a case into `dir`; returns the path of the file to load. */
function writeCase(dir: string, files: Case['files']): string {
  const entries =
    typeof files === 'string' ? [['main.conf', files] as const] : Object.entries(files);
  for (const [relative, content] of entries) {
    const path = join(dir, relative);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content.replaceAll('@', dir));
  }
  return join(dir, entries[0]?.[0] ?? 'main.conf');
}

interface Outcome {
  readonly exitCode: number | null;
  readonly lines: readonly string[];
}

function runReal(path: string, port: number): Outcome {
  const result = spawnSync(requiredPath('mosquitto'), ['-c', path, '-p', String(port)], {
    encoding: 'utf8',
    timeout: 5000,
  });
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  for (const line of lines) assert.match(line, /^\d+: /);
  return { exitCode: result.status, lines: lines.map((line) => line.replace(/^\d+: /, '')) };
}

function runOurs(path: string, port: number): Outcome {
  try {
    loadConfigFile(path, [port]);
    return { exitCode: 0, lines: [] };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Our own "not implemented yet" warnings are the one intended difference.
    const lines = error.messages
      .map((m) => m.text)
      .filter((text) => !text.startsWith('Warning: mosquitto-ts '));
    return { exitCode: error.exitCode, lines };
  }
}

function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

describe('configuration errors, compared with the real mosquitto', mosquittoSkip(), () => {
  for (const { name, files } of CASES) {
    test(name, (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-diff-'));
      t.after(() => {
        rmSync(dir, { recursive: true, force: true });
      });
      const path = writeCase(dir, files);
      const port = randomPort();
      const real = runReal(path, port);
      assert.equal(real.exitCode, 3, `the real broker refused the file: ${real.lines.join(' | ')}`);
      assert.deepEqual(runOurs(path, port), real);
    });
  }

  test('a missing file and a directory', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-diff-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    for (const path of [join(dir, 'missing.conf'), dir]) {
      const real = runReal(path, randomPort());
      assert.equal(real.exitCode, 3);
      assert.deepEqual(runOurs(path, 1), real);
    }
  });
});
