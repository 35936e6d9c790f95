/**
 * The option table: defaults, each core option's value and Mosquitto 2.0.22's error texts,
 * logging options.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/broker/config/errors.ts';
import { parseConfigText } from '../../../src/broker/config/parse.ts';
import type { LoadedConfig } from '../../../src/broker/config/parse.ts';
import { ALL_LOG_TYPES, defaultConfig } from '../../../src/broker/config/types.ts';

function parse(text: string, ports: readonly number[] = []): LoadedConfig {
  return parseConfigText(text, 'opt.conf', ports, { hostname: 'host' });
}

/** The first error line (the "Error found at" line, when there is one, is checked too). */
function error(text: string): string {
  try {
    parse(text);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const lines = e.errorLines;
    const last = lines.at(-1) ?? '';
    if (e.line > 0) assert.match(last, /^Error found at opt\.conf:\d+\.$/);
    return lines[0] ?? '';
  }
  assert.fail(`expected an error for ${JSON.stringify(text)}`);
}

/** Keeps the keys of `shape` only, recursively (to compare with defaultConfig()). */
function pick(value: unknown, shape: unknown): unknown {
  if (Array.isArray(shape) && Array.isArray(value)) {
    return value.map((v, i) => pick(v, shape[i]));
  }
  if (shape instanceof Set || typeof shape !== 'object' || shape === null) return value;
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(shape).map(([key, sub]) => [key, pick(record[key], sub)]),
  );
}

describe('defaults', () => {
  test('an empty file gives defaultConfig() (local-only, 1883)', () => {
    const expected = defaultConfig();
    assert.deepEqual(pick(parse('').config, expected), expected);
  });

  test('-p ports without listeners give defaultConfig(ports)', () => {
    const expected = defaultConfig([18870, 18871]);
    assert.deepEqual(pick(parse('', [18870, 18871]).config, expected), expected);
  });

  test('a plain listener', () => {
    const listener = parse('listener 18872\n').config.listeners[0];
    assert.ok(listener);
    assert.deepEqual(listener, {
      port: 18872,
      bindAddress: null,
      unixSocketPath: null,
      protocol: 'mqtt',
      socketDomain: null,
      maxConnections: -1,
      mountPoint: null,
      maxQos: 2,
      maxTopicAlias: 10,
      useUsernameAsClientid: false,
      security: {
        allowAnonymous: false,
        allowZeroLengthClientid: true,
        autoIdPrefix: 'auto-',
        passwordFile: null,
        aclFile: null,
        pskFile: null,
        plugins: [],
      },
      bindInterface: null,
      httpDir: null,
      tls: null,
    });
  });

  test('user defaults to mosquitto, persistence_file to mosquitto.db', () => {
    const { config } = parse('');
    assert.equal(config.user, 'mosquitto');
    assert.equal(config.persistenceFile, 'mosquitto.db');
  });
});

describe('listeners', () => {
  test('listener <port> <address>, and unix sockets with port 0', () => {
    const { config } = parse('listener 18873 ::1\nlistener 0 /tmp/mosq.sock\n');
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.bindAddress, l.unixSocketPath]),
      [
        [18873, '::1', null],
        [0, null, '/tmp/mosq.sock'],
      ],
    );
  });

  test('listener errors', () => {
    assert.equal(error('listener\n'), 'Error: Empty listener value in configuration.');
    assert.equal(error('listener 65536\n'), 'Error: Invalid port value (65536).');
    assert.equal(error('listener -1\n'), 'Error: Invalid port value (-1).');
    assert.equal(
      error('listener 0\n'),
      'Error: A listener with port 0 must provide a Unix socket path.',
    );
  });

  test('port: deprecation notice, repeat warning, range', () => {
    const { config, messages } = parse('port 18874\nport 18875\n');
    assert.deepEqual(
      config.listeners.map((l) => l.port),
      [18875],
    );
    assert.deepEqual(messages, [
      {
        type: 'notice',
        text: "The 'port' option is now deprecated and will be removed in a future version. Please use 'listener' instead.",
      },
      {
        type: 'notice',
        text: "The 'port' option is now deprecated and will be removed in a future version. Please use 'listener' instead.",
      },
      {
        type: 'warning',
        text: 'Warning: Default listener port specified multiple times. Only the latest will be used.',
      },
    ]);
    assert.equal(error('port 0\n'), 'Error: Invalid port value (0).');
    assert.equal(error('port\n'), 'Error: Empty port value in configuration.');
  });

  test('bind_address: notice and duplicate', () => {
    assert.match(parse('bind_address ::1\n').messages[0]?.text ?? '', /^The 'bind_address' option/);
    assert.equal(
      error('bind_address ::1\nbind_address ::1\n'),
      'Error: Duplicate default listener bind_address value in configuration.',
    );
  });

  test('socket_domain, protocol, max_connections', () => {
    const listener = parse(
      'listener 18876\nsocket_domain ipv6\nprotocol websockets\nmax_connections -7\n',
    ).config.listeners[0];
    assert.ok(listener);
    assert.equal(listener.socketDomain, 'ipv6');
    assert.equal(listener.protocol, 'websockets');
    assert.equal(listener.maxConnections, -1);
    assert.equal(
      error('socket_domain ipv5\n'),
      'Error: Invalid socket_domain value "ipv5" in configuration.',
    );
    assert.equal(error('socket_domain\n'), 'Error: Empty socket_domain value in configuration.');
    assert.equal(error('protocol mqttsn\n'), 'Error: Invalid protocol value (mqttsn).');
  });

  test('max_qos (alias maximum_qos), max_topic_alias, use_username_as_clientid', () => {
    const listener = parse(
      'listener 18877\nmaximum_qos 1\nmax_topic_alias 0\nuse_username_as_clientid true\n',
    ).config.listeners[0];
    assert.ok(listener);
    assert.equal(listener.maxQos, 1);
    assert.equal(listener.maxTopicAlias, 0);
    assert.equal(listener.useUsernameAsClientid, true);
    assert.equal(error('max_qos 3\n'), 'Error: max_qos must be between 0 and 2 inclusive.');
    assert.equal(error('maximum_qos\n'), 'Error: Empty maximum_qos value in configuration.');
    assert.equal(
      error('max_topic_alias 65536\n'),
      'Error: Invalid max_topic_alias value in configuration.',
    );
    assert.equal(
      error('max_topic_alias\n'),
      'Error: Empty max_topic_alias value in configuration.',
    );
  });

  test('mount_point needs a listener and no wildcards', () => {
    assert.equal(
      parse('listener 18878\nmount_point tenant/a/\n').config.listeners[0]?.mountPoint,
      'tenant/a/',
    );
    assert.equal(
      error('mount_point a/\n'),
      'Error: You must use create a listener before using the mount_point option in the configuration file.',
    );
    assert.equal(
      error('listener 18879\nmount_point a/+/b\n'),
      "Error: Invalid mount_point 'a/+/b'. Does it contain a wildcard character?",
    );
  });
});

describe('security', () => {
  test('global values', () => {
    const { security } = parse(
      'listener 18880\nallow_anonymous true\nallow_zero_length_clientid false\nauto_id_prefix id-\n' +
        'password_file /pw\nacl_file /acl\npsk_file /psk\n',
    ).config;
    assert.deepEqual(security, {
      allowAnonymous: true,
      allowZeroLengthClientid: false,
      autoIdPrefix: 'id-',
      passwordFile: '/pw',
      aclFile: '/acl',
      pskFile: '/psk',
      plugins: [],
    });
  });

  test('plugins and their options', () => {
    const { security } = parse(
      'plugin /a.mjs\nplugin_opt_config_file /x y\nauth_opt_key   v \nauth_plugin /b.mjs\nauth_plugin_deny_special_chars false\n',
    ).config;
    assert.deepEqual(security.plugins, [
      {
        path: '/a.mjs',
        options: [
          ['config_file', '/x y'],
          ['key', 'v '],
        ],
        denySpecialChars: true,
      },
      { path: '/b.mjs', options: [], denySpecialChars: false },
    ]);
  });

  test('plugin option errors', () => {
    assert.equal(
      error('plugin_opt_key v\n'),
      'Error: An auth_opt_ option exists in the config file without an auth_plugin.',
    );
    assert.equal(
      error('plugin /a.mjs\nplugin_opt_ab v\n'),
      'Error: Invalid auth_opt_ config option.',
    );
    assert.equal(
      error('plugin /a.mjs\nplugin_opt_key\n'),
      'Error: Empty key value in configuration.',
    );
    assert.equal(
      error('auth_plugin_deny_special_chars true\n'),
      'Error: An auth_plugin_deny_special_chars option exists in the config file without an auth_plugin.',
    );
    assert.equal(error('plugin\n'), 'Error: Empty auth_plugin value in configuration.');
  });
});

describe('limits and general', () => {
  test('clamping and ranges', () => {
    const { config } = parse(
      'max_inflight_messages 65535\nmax_inflight_bytes -1\nmax_queued_messages -1\nmax_queued_bytes 100\n' +
        'max_packet_size 20\nmax_keepalive 0\nautosave_interval -5\nsys_interval 0\n',
    );
    assert.equal(config.maxInflightMessages, 0);
    assert.equal(config.maxInflightBytes, 0);
    assert.equal(config.maxQueuedMessages, 0);
    assert.equal(config.maxQueuedBytes, 100);
    assert.equal(config.maxPacketSize, 20);
    assert.equal(config.maxKeepalive, 0);
    assert.equal(config.autosaveInterval, 0);
    assert.equal(config.sysInterval, 0);
    assert.equal(parse('max_inflight_messages -3\n').config.maxInflightMessages, 0);
    assert.equal(parse('max_inflight_messages 1\n').config.maxInflightMessages, 1);
  });

  test('range errors', () => {
    assert.equal(
      error('max_inflight_messages 65536\n'),
      'Error: max_inflight_messages must be <= 65535.',
    );
    assert.equal(error('max_packet_size 19\n'), 'Error: Invalid max_packet_size value (19).');
    assert.equal(error('max_packet_size 0\n'), 'Error: Invalid max_packet_size value (0).');
    assert.equal(error('max_keepalive 65536\n'), 'Error: Invalid max_keepalive value (65536).');
    assert.equal(error('max_keepalive -1\n'), 'Error: Invalid max_keepalive value (-1).');
    assert.equal(error('sys_interval -1\n'), 'Error: Invalid sys_interval value (-1).');
    assert.equal(error('memory_limit -1\n'), 'Error: Invalid memory_limit value (-1).');
  });

  test('message_size_limit: a notice, then an unsigned range check', () => {
    const { config, messages } = parse('message_size_limit 1000\n');
    assert.equal(config.messageSizeLimit, 1000);
    assert.deepEqual(messages[0], {
      type: 'notice',
      text: 'Note: It is recommended to replace `message_size_limit` with `max_packet_size`.',
    });
    assert.equal(
      error('message_size_limit -1\n'),
      'Error: Invalid message_size_limit value (4294967295).',
    );
    assert.equal(
      error('message_size_limit 268435456\n'),
      'Error: Invalid message_size_limit value (268435456).',
    );
  });

  test('booleans of the broker', () => {
    const { config } = parse(
      'queue_qos0_messages true\nupgrade_outgoing_qos 1\nretain_available false\ncheck_retain_source false\nset_tcp_nodelay true\n',
    );
    assert.equal(config.queueQos0Messages, true);
    assert.equal(config.upgradeOutgoingQos, true);
    assert.equal(config.retainAvailable, false);
    assert.equal(config.checkRetainSource, false);
    assert.equal(config.setTcpNodelay, true);
  });

  test('persistent_client_expiration units', () => {
    const expiry = (v: string): number =>
      parse(`persistent_client_expiration ${v}\n`).config.persistentClientExpiration;
    assert.equal(expiry('2h'), 7200);
    assert.equal(expiry('1d'), 86400);
    assert.equal(expiry('2w'), 1209600);
    assert.equal(expiry('1m'), 2592000);
    assert.equal(expiry('1y'), 31536000);
    const invalid = 'Error: Invalid persistent_client_expiration duration in configuration.';
    for (const bad of ['5s', '5', '0d', '-1h', 'h']) {
      assert.equal(error(`persistent_client_expiration ${bad}\n`), invalid, bad);
    }
  });

  test('persistence options', () => {
    const { config } = parse(
      'retained_persistence true\npersistence_file x.db\npersistence_location /var/lib/m/\nautosave_interval 60\n',
    );
    assert.equal(config.persistence, true);
    assert.equal(config.persistenceFile, 'x.db');
    assert.equal(config.persistenceLocation, '/var/lib/m/');
    assert.equal(config.autosaveInterval, 60);
  });

  test('deprecated and removed options', () => {
    assert.deepEqual(parse('retry_interval 20\n').messages, [
      { type: 'warning', text: 'Warning: The retry_interval option is no longer available.' },
    ]);
    assert.equal(
      parse('allow_duplicate_messages true\n').messages[0]?.text,
      "The 'allow_duplicate_messages' option is now deprecated and will be removed in a future version. The behaviour will default to true.",
    );
    assert.equal(
      parse('clientid_prefixes a\n').messages[0]?.text,
      "The 'clientid_prefixes' option is now deprecated and will be removed in a future version.",
    );
  });

  test('Mosquitto tolerates some empty values: logged as errors, not fatal', () => {
    const { messages, config } = parse(
      'max_connections\nprotocol\nlog_type\npersistent_client_expiration\nsys_interval 4\n',
    );
    assert.deepEqual(
      messages.map((m) => [m.type, m.text]),
      [
        ['error', 'Error: Empty max_connections value in configuration.'],
        ['error', 'Error: Empty protocol value in configuration.'],
        ['error', 'Error: Empty log_type value in configuration.'],
        ['error', 'Error: Empty persistent_client_expiration value in configuration.'],
      ],
    );
    assert.equal(config.sysInterval, 4);
  });
});

describe('logging options', () => {
  test('log_dest accumulates; none resets; file takes the rest of the line', () => {
    const { log } = parse(
      'log_dest stdout\nlog_dest topic\nlog_dest file  /var/log/m q.log\n',
    ).config;
    assert.deepEqual(log.destinations, [
      { kind: 'stdout' },
      { kind: 'file', path: '/var/log/m q.log' },
      { kind: 'topic' },
    ]);
    assert.deepEqual(parse('log_dest stdout\nlog_dest none\n').config.log.destinations, []);
    assert.deepEqual(parse('').config.log.destinations, [{ kind: 'stderr' }]);
  });

  test('log_dest errors', () => {
    assert.equal(
      error('log_dest file /a\nlog_dest file /b\n'),
      'Error: Duplicate "log_dest file" value.',
    );
    assert.equal(error('log_dest file\n'), 'Error: Empty "log_dest file" value in configuration.');
    assert.equal(error('log_dest paper\n'), 'Error: Invalid log_dest value (paper).');
    assert.equal(error('log_dest\n'), 'Error: Empty log_dest value in configuration.');
  });

  test('log_type accumulates; all and none; -v overrides', () => {
    const types = (text: string, verbose = false): string[] => [
      ...parseConfigText(text, 'x.conf', [], { verbose }).config.log.types,
    ];
    assert.deepEqual(types('log_type error\nlog_type debug\n'), ['error', 'debug']);
    assert.deepEqual(types('log_type all\nlog_type none\n'), []);
    assert.deepEqual(new Set(types('log_type all\n')), ALL_LOG_TYPES);
    assert.deepEqual(new Set(types('log_type error\n', true)), ALL_LOG_TYPES);
    assert.deepEqual(types(''), ['error', 'warning', 'notice', 'information']);
    assert.equal(error('log_type loud\n'), 'Error: Invalid log_type value (loud).');
  });

  test('timestamps and connection messages', () => {
    const { log } = parse(
      'log_timestamp false\nlog_timestamp_format %Y-%m-%dT%H:%M:%S\nconnection_messages false\n',
    ).config;
    assert.equal(log.timestamp, false);
    assert.equal(log.timestampFormat, '%Y-%m-%dT%H:%M:%S');
    assert.equal(log.connectionMessages, false);
    assert.equal(error('log_facility 8\n'), 'Error: Invalid log_facility value (8).');
  });
});
