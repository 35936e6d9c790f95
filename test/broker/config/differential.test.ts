/**
 * Bad configuration files fed to Debian's real Mosquitto and to our parser: the lines
 * printed (timestamps removed), their order and the exit status must be the same.
 *
 * Every case fails to load, so the real broker exits before opening a socket; `-p` with
 * a random port keeps it off 1883 even if a case were accepted by mistake. The cases
 * avoid the few places where 2.0.11 (Debian 12) and 2.0.22 differ (features §3.17 and
 * src/conf.c: max_keepalive < 10, retain_expiry_interval, the 2.0.21 TLS checks); those
 * are covered by options.test.ts with the 2.0.22 texts.
 *
 * The bridge options Mosquitto 2.1 added are compared the same way with a build of
 * Mosquitto 2.1.2 where the machine has one (MOSQUITTO_212_BIN, see real-db.ts; CI has none,
 * so there they are skipped and table.test.ts's pinned texts stand alone).
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../../src/broker/config/errors.ts';
import { loadConfigFile } from '../../../src/broker/config/parse.ts';
import { mosquittoSkip, requiredPath } from '../../helpers/mosquitto.ts';
import { referenceProgram, referenceSkipMessage } from '../../helpers/real-db.ts';

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
  { name: 'plugin option key too short', files: 'plugin /p.mjs\nplugin_opt_ab value\n' },
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

/** A bridge whose other lines 2.1.2 accepts without a message. */
const BRIDGE = 'connection b\naddress 127.0.0.1:1\ntopic a\n';

/** Mosquitto 2.1's bridge options: every bad value, each on the file's last line. */
const CASES_21: readonly Case[] = [
  ...[
    'bridge_ciphers a',
    'bridge_ciphers_tls1.3 a',
    'bridge_tls_use_os_certs true',
    'bridge_max_topic_alias 1',
    'bridge_receive_maximum 1',
    'bridge_session_expiry_interval 1',
    'bridge_reload_type lazy',
    'bridge_tcp_keepalive 1 1 1',
    'bridge_tcp_user_timeout 1',
  ].map((line) => ({ name: `${line.split(' ')[0] ?? ''} without connection`, files: `${line}\n` })),
  { name: 'bridge_ciphers empty', files: `${BRIDGE}bridge_ciphers   \n` },
  { name: 'bridge_ciphers twice', files: `${BRIDGE}bridge_ciphers a\nbridge_ciphers b\n` },
  { name: 'bridge_ciphers_tls1.3 empty', files: `${BRIDGE}bridge_ciphers_tls1.3\n` },
  { name: 'bridge_ciphers_tls1.3 with a tab', files: `${BRIDGE}bridge_ciphers_tls1.3 a\tb\n` },
  {
    name: 'bridge_ciphers_tls1.3 twice',
    files: `${BRIDGE}bridge_ciphers_tls1.3 a\nbridge_ciphers_tls1.3 a\n`,
  },
  { name: 'bridge_tls_use_os_certs empty', files: `${BRIDGE}bridge_tls_use_os_certs\n` },
  { name: 'bridge_tls_use_os_certs yes', files: `${BRIDGE}bridge_tls_use_os_certs yes\n` },
  { name: 'bridge_max_topic_alias -1', files: `${BRIDGE}bridge_max_topic_alias -1\n` },
  { name: 'bridge_max_topic_alias 65536', files: `${BRIDGE}bridge_max_topic_alias 65536\n` },
  { name: 'bridge_max_topic_alias 1e3', files: `${BRIDGE}bridge_max_topic_alias 1e3\n` },
  { name: 'bridge_max_topic_alias empty', files: `${BRIDGE}bridge_max_topic_alias\n` },
  { name: 'bridge_receive_maximum 0', files: `${BRIDGE}bridge_receive_maximum 0\n` },
  { name: 'bridge_receive_maximum -0x1', files: `${BRIDGE}bridge_receive_maximum -0x1\n` },
  { name: 'bridge_receive_maximum 65536', files: `${BRIDGE}bridge_receive_maximum 65536\n` },
  { name: 'bridge_receive_maximum 09', files: `${BRIDGE}bridge_receive_maximum 09\n` },
  { name: 'bridge_receive_maximum 0x', files: `${BRIDGE}bridge_receive_maximum 0x\n` },
  { name: 'bridge_receive_maximum 5x', files: `${BRIDGE}bridge_receive_maximum 5x\n` },
  { name: 'bridge_receive_maximum with a tab', files: `${BRIDGE}bridge_receive_maximum 5\t\n` },
  { name: 'bridge_receive_maximum +', files: `${BRIDGE}bridge_receive_maximum +\n` },
  {
    name: 'bridge_receive_maximum beyond 64 bits',
    files: `${BRIDGE}bridge_receive_maximum 99999999999999999999\n`,
  },
  {
    name: 'bridge_session_expiry_interval -1',
    files: `${BRIDGE}bridge_session_expiry_interval -1\n`,
  },
  {
    name: 'bridge_session_expiry_interval 0xFFFFFFFF (the man page value)',
    files: `${BRIDGE}bridge_session_expiry_interval 0xFFFFFFFF\n`,
  },
  {
    name: 'bridge_session_expiry_interval 2147483648',
    files: `${BRIDGE}bridge_session_expiry_interval 2147483648\n`,
  },
  {
    name: 'bridge_session_expiry_interval -2147483649',
    files: `${BRIDGE}bridge_session_expiry_interval -2147483649\n`,
  },
  { name: 'bridge_reload_type empty', files: `${BRIDGE}bridge_reload_type\n` },
  { name: 'bridge_reload_type Lazy', files: `${BRIDGE}bridge_reload_type Lazy\n` },
  { name: 'bridge_tcp_keepalive empty', files: `${BRIDGE}bridge_tcp_keepalive\n` },
  { name: 'bridge_tcp_keepalive 1', files: `${BRIDGE}bridge_tcp_keepalive 1\n` },
  { name: 'bridge_tcp_keepalive 1 2', files: `${BRIDGE}bridge_tcp_keepalive 1 2\n` },
  { name: 'bridge_tcp_keepalive 0 2 3', files: `${BRIDGE}bridge_tcp_keepalive 0 2 3\n` },
  { name: 'bridge_tcp_keepalive 1 0 3', files: `${BRIDGE}bridge_tcp_keepalive 1 0 3\n` },
  { name: 'bridge_tcp_keepalive 1 2 -3', files: `${BRIDGE}bridge_tcp_keepalive 1 2 -3\n` },
  { name: 'bridge_tcp_keepalive 1 x 3', files: `${BRIDGE}bridge_tcp_keepalive 1 x 3\n` },
  { name: 'bridge_tcp_user_timeout -1', files: `${BRIDGE}bridge_tcp_user_timeout -1\n` },
  { name: 'bridge_tcp_user_timeout 1.5', files: `${BRIDGE}bridge_tcp_user_timeout 1.5\n` },
  { name: 'bridge_tcp_user_timeout empty', files: `${BRIDGE}bridge_tcp_user_timeout\n` },
  {
    // Every valid form first: 2.1.2 reaches the last line only if it accepted them all.
    name: 'every valid form, then a bad line',
    files:
      `${BRIDGE}bridge_ciphers  ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA  \n` +
      'bridge_ciphers_tls1.3 TLS_AES_128_GCM_SHA256\nbridge_tls_use_os_certs 1\n' +
      'bridge_tls_use_os_certs false\nbridge_max_topic_alias 0\nbridge_max_topic_alias 65535\n' +
      'bridge_max_topic_alias 010\nbridge_receive_maximum 1\nbridge_receive_maximum 65535\n' +
      'bridge_receive_maximum 0x10\nbridge_receive_maximum +7\n' +
      'bridge_session_expiry_interval 0\nbridge_session_expiry_interval 2147483647\n' +
      'bridge_reload_type immediate extra\nbridge_reload_type lazy\n' +
      'bridge_tcp_keepalive 1 2 3 4\nbridge_tcp_keepalive 600 60 5 # comment\n' +
      'bridge_tcp_user_timeout 0\nbridge_tcp_user_timeout 30000\nbridge_reload_type never\n',
  },
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

/** 2.1 adds this last line to every failed start; 2.0 prints nothing more. */
const TERMINATING_21 = 'mosquitto version 2.1.2 terminating';

function runReal(path: string, port: number, command = requiredPath('mosquitto')): Outcome {
  const result = spawnSync(command, ['-c', path, '-p', String(port)], {
    encoding: 'utf8',
    timeout: 5000,
  });
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  for (const line of lines) assert.match(line, /^\d+: /);
  return {
    exitCode: result.status,
    lines: lines.map((line) => line.replace(/^\d+: /, '')).filter((l) => l !== TERMINATING_21),
  };
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

/** One case: the real broker must refuse the file (exit 3) and we must print the same. */
function compareCase(t: TestContext, files: Case['files'], command?: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-diff-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const path = writeCase(dir, files);
  const port = randomPort();
  const real = runReal(path, port, command);
  assert.equal(real.exitCode, 3, `the real broker refused the file: ${real.lines.join(' | ')}`);
  assert.deepEqual(runOurs(path, port), real);
}

describe('configuration errors, compared with the real mosquitto', mosquittoSkip(), () => {
  for (const { name, files } of CASES) {
    test(name, (t) => {
      compareCase(t, files);
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

const MOSQUITTO_212 = referenceProgram('2.1.2', 'mosquitto');

describe(
  "Mosquitto 2.1's bridge options, compared with Mosquitto 2.1.2",
  MOSQUITTO_212 === null ? { skip: referenceSkipMessage('2.1.2', 'mosquitto') } : {},
  () => {
    for (const { name, files } of CASES_21) {
      test(name, (t) => {
        compareCase(t, files, MOSQUITTO_212 ?? undefined);
      });
    }
  },
);
