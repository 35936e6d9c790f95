/**
 * The bridge rows of the option table (§1.9): `connection <name>` starts a bridge and the
 * rows below apply to the current one of the same file. Parsed, validated with Mosquitto's
 * texts and stored; broker/bridge/ runs them.
 * BRIDGE_21_OPTIONS holds the options Mosquitto 2.1 added, with 2.1.2's own texts.
 */
import { OptionError } from './errors.ts';
import type { BridgeDraft } from './draft.ts';
import { newBridgeDraft } from './draft.ts';
import type { OptionSpec, StringRow } from './option-spec.ts';
import { bool, custom, int, readStrictInt, str, strictInt } from './option-spec.ts';
import type { BridgeAddress, BridgeTcpKeepalive, BridgeTopic } from './types.ts';
import { atoi, decodeBytes, isValidPublishTopic, isValidSubscribeTopic } from './values.ts';

/**
 * Bridge options accepted but without effect (the parser warns about them): Node.js
 * cannot set TCP_USER_TIMEOUT on a socket.
 */
const NOT_IMPLEMENTED: ReadonlySet<string> = new Set(['bridge_tcp_user_timeout']);

const CERTIFICATE_AND_PSK =
  'Error: Cannot use both certificate and psk encryption in a single bridge.';

function hasPsk(bridge: BridgeDraft): boolean {
  return bridge.identity !== null || bridge.psk !== null;
}

function hasCertificate(bridge: BridgeDraft): boolean {
  return (
    bridge.cafile !== null ||
    bridge.capath !== null ||
    bridge.certfile !== null ||
    bridge.keyfile !== null
  );
}

type BridgeStringField =
  | 'cafile'
  | 'capath'
  | 'certfile'
  | 'keyfile'
  | 'alpn'
  | 'bindAddress'
  | 'tlsVersion'
  | 'identity'
  | 'psk'
  | 'remoteClientid'
  | 'localClientid'
  | 'remoteUsername'
  | 'remotePassword'
  | 'localUsername'
  | 'localPassword'
  | 'notificationTopic';

function bridgeString(
  name: string,
  field: BridgeStringField,
  summary: string,
  extra: Partial<Pick<StringRow<'bridge'>, 'aliases' | 'label' | 'before'>> = {},
): OptionSpec {
  return str({
    name,
    scope: 'bridge',
    implemented: !NOT_IMPLEMENTED.has(name),
    summary,
    ...extra,
    get: (b) => b[field],
    set: (b, v) => {
      b[field] = v;
    },
  });
}

type BridgeBoolField =
  | 'attemptUnsubscribe'
  | 'outgoingRetain'
  | 'requireOcsp'
  | 'cleansession'
  | 'notifications'
  | 'notificationsLocalOnly'
  | 'roundRobin'
  | 'tryPrivate';

function bridgeBool(name: string, field: BridgeBoolField, summary: string): OptionSpec {
  return bool(
    {
      name,
      scope: 'bridge',
      implemented: !NOT_IMPLEMENTED.has(name),
      summary,
      set: (b, v) => {
        b[field] = v;
      },
    },
    // Mosquitto's text for this one option lacks the full stop.
    name === 'notifications_local_only'
      ? { missingBridge: 'Error: Invalid bridge configuration' }
      : {},
  );
}

function rejectWithPsk(bridge: BridgeDraft): void {
  if (hasPsk(bridge)) throw new OptionError(CERTIFICATE_AND_PSK);
}

/** A bridge `topic` line: pattern [direction [qos [local-prefix [remote-prefix]]]]. */
function parseBridgeTopic(bridge: BridgeDraft, ctx: Parameters<OptionSpec['run']>[0]): void {
  const { cursor } = ctx;
  const pattern = cursor.nextToken();
  if (pattern === null) throw new OptionError('Error: Empty topic value in configuration.');
  let direction: BridgeTopic['direction'] = 'out';
  let qos = 0;
  let localPrefix: string | null = null;
  let remotePrefix: string | null = null;
  const directionToken = cursor.nextToken();
  if (directionToken !== null) {
    const lower = directionToken.toLowerCase();
    if (lower !== 'out' && lower !== 'in' && lower !== 'both') {
      throw new OptionError(
        `Error: Invalid bridge topic direction '${decodeBytes(directionToken)}'.`,
      );
    }
    direction = lower;
    const qosToken = cursor.nextToken();
    if (qosToken !== null) {
      // A token starting with '#' ends the line (a trailing comment).
      if (qosToken.startsWith('#')) cursor.rest();
      qos = atoi(qosToken) & 0xff;
      if (qos > 2) {
        throw new OptionError(`Error: Invalid bridge QoS level '${decodeBytes(qosToken)}'.`);
      }
      const localToken = cursor.nextToken();
      if (localToken !== null) {
        if (localToken.startsWith('#')) cursor.rest();
        else if (localToken !== '""') localPrefix = localToken;
        const remoteToken = cursor.nextToken();
        if (remoteToken !== null && remoteToken !== '""' && !remoteToken.startsWith('#')) {
          remotePrefix = remoteToken;
        }
      }
    }
  }
  if (localPrefix !== null && !isValidPublishTopic(localPrefix)) {
    throw new OptionError(
      `Error: Invalid bridge topic local prefix '${decodeBytes(localPrefix)}'.`,
    );
  }
  if (remotePrefix !== null && !isValidPublishTopic(remotePrefix)) {
    throw new OptionError(
      `Error: Invalid bridge topic remote prefix '${decodeBytes(remotePrefix)}'.`,
    );
  }
  const empty = pattern === '""';
  if (empty && (localPrefix === null || remotePrefix === null)) {
    throw new OptionError('Error: Invalid bridge remapping.');
  }
  for (const prefix of [localPrefix, remotePrefix]) {
    if (prefix === null) continue;
    const combined = prefix + (empty ? '' : pattern);
    if (!isValidSubscribeTopic(combined)) {
      // Mosquitto says "local" for both prefixes, then reports the failure as out of memory.
      throw new OptionError(
        `Error: Invalid bridge topic local prefix and pattern combination '${decodeBytes(combined)}'.`,
        'Error: Out of memory.',
      );
    }
  }
  // Mosquitto takes a bad pattern without prefixes and then subscribes with it; we refuse
  // it here (DEVIATIONS row 55).
  if (!empty && localPrefix === null && remotePrefix === null && !isValidSubscribeTopic(pattern)) {
    throw new OptionError(`Error: Invalid bridge topic pattern '${decodeBytes(pattern)}'.`);
  }
  bridge.topics.push({
    pattern: empty ? null : decodeBytes(pattern),
    direction,
    qos: qos === 0 ? 0 : qos === 1 ? 1 : 2,
    localPrefix: localPrefix === null ? null : decodeBytes(localPrefix),
    remotePrefix: remotePrefix === null ? null : decodeBytes(remotePrefix),
  });
}

export const BRIDGE_OPTIONS: readonly OptionSpec[] = [
  custom({
    name: 'connection',
    scope: 'global',
    reloadable: false,
    summary: 'Start a bridge; the bridge options that follow apply to it.',
    run: (draft, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) throw new OptionError('Error: Empty connection value in configuration.');
      const name = decodeBytes(token);
      if (draft.bridges.some((b) => b.name === name)) {
        throw new OptionError(`Error: Duplicate bridge name "${name}".`);
      }
      const bridge = newBridgeDraft(name);
      draft.bridges.push(bridge);
      ctx.file.bridge = bridge;
    },
  }),
  custom({
    name: 'address',
    aliases: ['addresses'],
    scope: 'bridge',
    summary: 'Remote host[:port] list.',
    run: (bridge, ctx) => {
      if (bridge.addresses !== null) throw new OptionError('Error: Invalid bridge configuration.');
      const addresses: BridgeAddress[] = [];
      for (let token = ctx.cursor.nextToken(); token !== null; token = ctx.cursor.nextToken()) {
        if (token.startsWith('#')) break;
        // The port follows the last ':' (so an IPv6 address needs one).
        const colon = token.lastIndexOf(':');
        let port = 1883;
        if (colon !== -1) {
          port = atoi(token.slice(colon + 1));
          if (port < 1 || port > 65535) {
            throw new OptionError(`Error: Invalid port value (${port}).`);
          }
        }
        addresses.push({ host: decodeBytes(colon === -1 ? token : token.slice(0, colon)), port });
      }
      if (addresses.length === 0) {
        throw new OptionError('Error: Empty address value in configuration.');
      }
      bridge.addresses = addresses;
    },
  }),
  custom({
    name: 'topic',
    scope: 'bridge',
    summary: 'topic <pattern> [in|out|both [qos [local-prefix [remote-prefix]]]]',
    run: parseBridgeTopic,
  }),
  bridgeString('remote_clientid', 'remoteClientid', 'Client id on the remote broker.', {
    aliases: ['clientid'],
    label: 'bridge remote clientid',
  }),
  // "clientd" is Mosquitto's spelling in this message.
  bridgeString('local_clientid', 'localClientid', 'Client id of the local side.', {
    label: 'bridge local clientd',
  }),
  bridgeString('remote_username', 'remoteUsername', 'Username on the remote broker.', {
    aliases: ['username'],
    label: 'bridge remote_username',
  }),
  bridgeString('remote_password', 'remotePassword', 'Password on the remote broker.', {
    aliases: ['password'],
    label: 'bridge remote_password',
  }),
  bridgeString('local_username', 'localUsername', 'Username of the local side.', {
    label: 'bridge local_username',
  }),
  bridgeString('local_password', 'localPassword', 'Password of the local side.', {
    label: 'bridge local_password',
  }),
  bridgeString('notification_topic', 'notificationTopic', 'Topic of the connection state.'),
  bridgeString('bridge_cafile', 'cafile', 'CA for the remote certificate.', {
    before: rejectWithPsk,
  }),
  bridgeString('bridge_capath', 'capath', 'CA directory for the remote certificate.', {
    before: rejectWithPsk,
  }),
  bridgeString('bridge_certfile', 'certfile', 'Client certificate.', { before: rejectWithPsk }),
  bridgeString('bridge_keyfile', 'keyfile', 'Client key.', { before: rejectWithPsk }),
  bridgeString('bridge_identity', 'identity', 'TLS-PSK identity.', {
    before: (b) => {
      if (hasCertificate(b)) {
        throw new OptionError(
          'Error: Cannot use both certificate and identity encryption in a single bridge.',
        );
      }
    },
  }),
  bridgeString('bridge_psk', 'psk', 'TLS-PSK key (hex).', {
    before: (b) => {
      if (hasCertificate(b)) throw new OptionError(CERTIFICATE_AND_PSK);
    },
  }),
  bridgeString('bridge_alpn', 'alpn', 'ALPN protocol.'),
  bridgeString('bridge_bind_address', 'bindAddress', 'Local address of the bridge socket.'),
  bridgeString('bridge_tls_version', 'tlsVersion', 'TLS version towards the remote.'),
  bridgeBool('bridge_attempt_unsubscribe', 'attemptUnsubscribe', 'Unsubscribe out topics.'),
  bridgeBool('bridge_outgoing_retain', 'outgoingRetain', 'Keep the retain flag outgoing.'),
  bridgeBool('bridge_require_ocsp', 'requireOcsp', 'Require OCSP stapling.'),
  bridgeBool('cleansession', 'cleansession', 'Clean session on the remote.'),
  bridgeBool('notifications', 'notifications', 'Publish the connection state.'),
  bridgeBool('notifications_local_only', 'notificationsLocalOnly', 'State only locally.'),
  bridgeBool('round_robin', 'roundRobin', 'Do not prefer the first address.'),
  bridgeBool('try_private', 'tryPrivate', 'Announce a bridge in CONNECT.'),
  bool({
    name: 'local_cleansession',
    scope: 'bridge',
    summary: 'Clean session of the local side.',
    set: (b, v) => {
      b.localCleansession = v;
    },
  }),
  bool({
    name: 'bridge_insecure',
    scope: 'bridge',
    summary: 'Skip the remote host name check.',
    set: (b, v, ctx) => {
      b.insecure = v;
      if (v) ctx.log('warning', `Warning: Bridge ${b.name} using insecure mode.`);
    },
  }),
  int({
    name: 'bridge_max_packet_size',
    scope: 'bridge',
    summary: 'Largest packet sent to the remote (0: no limit).',
    set: (b, v) => {
      b.maxPacketSize = Math.max(v, 0);
    },
  }),
  int({
    name: 'keepalive_interval',
    scope: 'bridge',
    summary: 'Keepalive towards the remote (at least 5).',
    check: (v) => (v > 65535 ? 'Error: Bridge keepalive value too high.' : undefined),
    set: (b, v, ctx) => {
      if (v < 5) ctx.log('notice', 'keepalive interval too low, using 5 seconds.');
      b.keepaliveInterval = Math.max(v, 5);
    },
  }),
  int({
    name: 'idle_timeout',
    scope: 'bridge',
    summary: 'Lazy bridges: seconds idle before disconnecting.',
    set: (b, v, ctx) => {
      if (v < 1) ctx.log('notice', 'idle_timeout interval too low, using 1 second.');
      b.idleTimeout = Math.max(v, 1);
    },
  }),
  int({
    name: 'threshold',
    scope: 'bridge',
    summary: 'Lazy bridges: queued messages that start the connection.',
    set: (b, v, ctx) => {
      if (v < 1) ctx.log('notice', 'threshold too low, using 1 message.');
      b.threshold = Math.max(v, 1);
    },
  }),
  custom({
    name: 'restart_timeout',
    scope: 'bridge',
    summary: '<seconds> or <base> <cap>: reconnection delay.',
    run: (b, ctx) => {
      const first = ctx.cursor.nextToken();
      if (first === null) {
        throw new OptionError('Error: Empty restart_timeout value in configuration.');
      }
      b.restartTimeout = atoi(first);
      b.backoffBase = 0;
      b.backoffCap = 0;
      if (b.restartTimeout < 1) {
        ctx.log('notice', 'restart_timeout interval too low, using 1 second.');
        b.restartTimeout = 1;
      }
      const second = ctx.cursor.nextToken();
      if (second !== null) {
        b.backoffBase = b.restartTimeout;
        b.backoffCap = atoi(second);
        if (b.backoffCap < b.backoffBase) {
          throw new OptionError('Error: backoff cap is lower than the base in restart_timeout.');
        }
      }
    },
  }),
  custom({
    name: 'start_type',
    scope: 'bridge',
    kind: 'token',
    summary: 'automatic, lazy or once.',
    run: (b, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) throw new OptionError('Error: Empty start_type value in configuration.');
      if (token === 'manual') throw new OptionError('Error: Manual start_type not supported.');
      if (token !== 'automatic' && token !== 'lazy' && token !== 'once') {
        throw new OptionError(
          `Error: Invalid start_type value in configuration (${decodeBytes(token)}).`,
        );
      }
      b.startType = token;
    },
  }),
  custom({
    name: 'bridge_protocol_version',
    scope: 'bridge',
    summary: 'mqttv31, mqttv311 (default) or mqttv50.',
    run: (b, ctx) => {
      // The raw rest of the line: a trailing space makes the value invalid, as in Mosquitto.
      const value = ctx.cursor.rest();
      if (value === null) {
        throw new OptionError('Error: Empty bridge_protocol_version value in configuration.');
      }
      if (value !== 'mqttv31' && value !== 'mqttv311' && value !== 'mqttv50') {
        throw new OptionError(
          `Error: Invalid bridge_protocol_version value (${decodeBytes(value)}).`,
        );
      }
      b.protocolVersion = value;
    },
  }),
];

/**
 * Mosquitto 2.1's messages for its new options quote the name ("Error: Empty
 * 'bridge_ciphers' value in configuration.") and name the option when no `connection`
 * came first; its integers are read by the stricter readStrictInt.
 */
function quoted(name: string): { label: string } {
  return { label: `'${name}'` };
}

function noBridge21(name: string): { missingBridge: string } {
  return { missingBridge: `Error: The '${name}' option requires a bridge to be defined first.` };
}

type Bridge21StringField = 'ciphers' | 'ciphersTls13';

function bridge21String(name: string, field: Bridge21StringField, summary: string): OptionSpec {
  return str(
    {
      name,
      scope: 'bridge',
      implemented: !NOT_IMPLEMENTED.has(name),
      summary,
      ...quoted(name),
      get: (b) => b[field],
      set: (b, v) => {
        b[field] = v;
      },
    },
    noBridge21(name),
  );
}

type Bridge21IntField = 'maxTopicAlias' | 'receiveMaximum' | 'sessionExpiryInterval';

function bridge21Int(
  name: string,
  field: Bridge21IntField,
  summary: string,
  check: (value: number) => string | undefined,
): OptionSpec {
  return strictInt(
    {
      name,
      scope: 'bridge',
      implemented: !NOT_IMPLEMENTED.has(name),
      summary,
      ...quoted(name),
      check,
      set: (b, v) => {
        b[field] = v;
      },
    },
    noBridge21(name),
  );
}

/** One of `bridge_tcp_keepalive`'s three values: an int of at least 1. */
function readKeepaliveValue(
  ctx: Parameters<OptionSpec['run']>[0],
  part: 'idle' | 'interval' | 'counter',
): number {
  const value = readStrictInt(ctx, `'bridge_tcp_keepalive_${part}'`);
  if (value <= 0) throw new OptionError(`Error: invalid TCP keepalive ${part} value.`);
  return value;
}

/** The options Mosquitto 2.1 added to bridges (2.0 rejects them as unknown). */
export const BRIDGE_21_OPTIONS: readonly OptionSpec[] = [
  bridge21String('bridge_ciphers', 'ciphers', 'TLS 1.2 cipher list towards the remote.'),
  bridge21String(
    'bridge_ciphers_tls1.3',
    'ciphersTls13',
    'TLS 1.3 ciphersuites towards the remote.',
  ),
  bool(
    {
      name: 'bridge_tls_use_os_certs',
      scope: 'bridge',
      summary: "Trust the system's CA certificates (enables TLS).",
      ...quoted('bridge_tls_use_os_certs'),
      set: (b, v) => {
        b.tlsUseOsCerts = v;
      },
    },
    noBridge21('bridge_tls_use_os_certs'),
  ),
  // Mosquitto's text says "> 0" but 0 is accepted (it disables incoming aliases).
  bridge21Int(
    'bridge_max_topic_alias',
    'maxTopicAlias',
    'MQTT 5: Topic Alias Maximum offered to the remote (0-65535, default 10).',
    (v) =>
      v < 0 || v > 65535 ? 'Error: bridge_max_topic_alias must be > 0 and <= 65535.' : undefined,
  ),
  bridge21Int(
    'bridge_receive_maximum',
    'receiveMaximum',
    'MQTT 5: Receive Maximum sent to the remote (1-65535).',
    (v) =>
      v <= 0
        ? 'Error: bridge_receive_maximum must be greater than 0.'
        : v > 65535
          ? 'Error: bridge_receive_maximum must be lower than 65535.'
          : undefined,
  ),
  // 2.1.2 also rejects values above 4294967295 ("must be lower than"), but its int reading
  // already refuses anything above 2147483647 as out of range, so that text never shows.
  bridge21Int(
    'bridge_session_expiry_interval',
    'sessionExpiryInterval',
    'MQTT 5: Session Expiry Interval sent to the remote, in seconds (default 0).',
    (v) => (v < 0 ? 'Error: bridge_session_expiry_interval must not be negative.' : undefined),
  ),
  custom(
    {
      name: 'bridge_reload_type',
      scope: 'bridge',
      kind: 'token',
      summary: 'lazy (default) or immediate: when a reload reconnects the bridge.',
      run: (b, ctx) => {
        const token = ctx.cursor.nextToken();
        if (token === null) {
          throw new OptionError("Error: Empty 'bridge_reload_type' value in configuration.");
        }
        if (token !== 'lazy' && token !== 'immediate') {
          throw new OptionError(
            `Error: Invalid 'bridge_reload_type' value in configuration (${decodeBytes(token)}).`,
          );
        }
        b.reloadType = token;
      },
    },
    noBridge21('bridge_reload_type'),
  ),
  custom(
    {
      name: 'bridge_tcp_keepalive',
      scope: 'bridge',
      summary: '<idle> <interval> <counter>: TCP keepalive on the bridge socket.',
      run: (b, ctx) => {
        const keepalive: BridgeTcpKeepalive = {
          idle: readKeepaliveValue(ctx, 'idle'),
          interval: readKeepaliveValue(ctx, 'interval'),
          count: readKeepaliveValue(ctx, 'counter'),
        };
        b.tcpKeepalive = keepalive;
      },
    },
    noBridge21('bridge_tcp_keepalive'),
  ),
  strictInt(
    {
      name: 'bridge_tcp_user_timeout',
      scope: 'bridge',
      implemented: false,
      summary: 'TCP_USER_TIMEOUT of the bridge socket, in milliseconds.',
      ...quoted('bridge_tcp_user_timeout'),
      check: (v) => (v < 0 ? 'Error: invalid TCP user timeout value.' : undefined),
      set: (b, v) => {
        b.tcpUserTimeout = v;
      },
    },
    noBridge21('bridge_tcp_user_timeout'),
  ),
];
