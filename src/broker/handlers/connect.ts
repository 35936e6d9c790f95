/**
 * CONNECT (handle_connect.c), in Mosquitto's order: protocol level (decoder) -> will
 * checks against retain_available and max_qos -> client id rules -> will topic and size
 * -> credentials -> authentication (possibly off the event loop, see authenticateConnect)
 * -> max_keepalive -> session takeover/resume -> CONNACK -> resend of the resumed
 * session's messages. Refusals are thrown as MqttError and turned into CONNACK codes by
 * dispatch.ts.
 */
import { Buffer } from 'node:buffer';
import type { ConnectPacket, Properties } from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import { ProtocolVersion, ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import type { ClientConnection } from '../client-connection.ts';
import { ConnectionState } from '../client-connection.ts';
import { BrokerError } from '../broker-error.ts';
import { CloseReason } from '../close-reason.ts';
import { forwardedProperties, NEVER_EXPIRES, StoredMessage } from '../messages/stored-message.ts';
import { SESSION_NEVER_EXPIRES } from '../session.ts';
import type { SessionWill } from '../session.ts';
import { nodeCrypto } from '../../common/node-crypto.ts';
import { tlsUsername } from '../tls-identity.ts';
import * as send from '../send.ts';
import { pluginClientOf } from '../plugins/client.ts';
import { noteLoginRefused, refuseIfBlocked } from '../security/login-limit.ts';

type MutableProperties = { -readonly [K in keyof Properties]: Properties[K] };

/** '0'-'9', 'A'-'F' as bytes. */
const HEX_CODES = Buffer.from('0123456789ABCDEF', 'latin1');

/**
 * Mosquitto's generated client id: the prefix, then 16 random bytes as 36 characters of
 * upper-case hex in UUID grouping (8-4-4-4-12), each byte low nibble first.
 */
export function generateClientId(prefix: string): string {
  const random = nodeCrypto().randomBytes(16);
  // Written into bytes and decoded once: appending character by character leaves a tree of
  // ~30 string pieces (~900 bytes) behind every auto-id client for as long as it stays.
  const prefixLength = Buffer.byteLength(prefix, 'utf8');
  const text = Buffer.allocUnsafe(prefixLength + 36);
  text.write(prefix, 0, 'utf8');
  let position = prefixLength;
  for (const byte of random) {
    text[position++] = HEX_CODES[byte & 0x0f] ?? 0x30;
    text[position++] = HEX_CODES[byte >> 4] ?? 0x30;
    const written = position - prefixLength;
    if (written === 8 || written === 13 || written === 18 || written === 23) {
      text[position++] = 0x2d;
    }
  }
  return text.toString('utf8');
}

export function handleConnect(conn: ClientConnection, packet: ConnectPacket): void {
  const broker = conn.broker;
  const config = broker.config;
  const listener = conn.listener.config;
  const security = config.perListenerSettings ? listener.security : config.security;

  if (conn.state !== ConnectionState.AwaitingConnect) {
    broker.log.notice(`Bad client ${conn.logId} sending multiple CONNECT messages.`);
    // Mosquitto returns from its CONNECT handler before any DISCONNECT is sent.
    throw new BrokerError(
      ReasonCode.ProtocolError,
      'second CONNECT',
      'MQTT-3.1.0-2',
      CloseReason.ProtocolError,
      '',
      true,
    );
  }
  const version = packet.protocolVersion;
  conn.protocolVersion = version;
  conn.decoder.protocolVersion = version;
  conn.connectDecoded = true;
  const properties = packet.properties;
  const will = packet.will;

  if (will !== null && will.retain && !config.retainAvailable) {
    throw new BrokerError(
      ReasonCode.RetainNotSupported,
      'will retain while retain_available is false',
      'MQTT-3.2.2-14',
      CloseReason.NotSupported,
    );
  }
  if (will !== null && will.qos > listener.maxQos) {
    throw new BrokerError(
      ReasonCode.QoSNotSupported,
      'will QoS above max_qos',
      'MQTT-3.2.2-12',
      CloseReason.NotSupported,
    );
  }

  // Client identifier [MQTT-3.1.3-6..9].
  let clientId = packet.clientId;
  let assignedId = false;
  if (clientId === '') {
    if (
      version === ProtocolVersion.V31 ||
      (version === ProtocolVersion.V311 && !packet.cleanStart) ||
      !security.allowZeroLengthClientid
    ) {
      throw new MqttError(
        ReasonCode.ClientIdentifierNotValid,
        'zero-length client id refused',
        'MQTT-3.1.3-8',
      );
    }
    clientId = generateClientId(security.autoIdPrefix);
    assignedId = true;
  }

  // use_identity_as_username / use_subject_as_username: the username comes from TLS and
  // the CONNECT's username and password are discarded (refused below, in Mosquitto's order).
  const tlsName = tlsUsername(listener, conn.transport);
  // A zero-length user name counts as none, as in Mosquitto (packet__read_string() gives
  // NULL for an empty field): the client is anonymous (allow_anonymous decides).
  const username =
    tlsName === undefined ? (packet.username === '' ? null : packet.username) : tlsName;

  let sessionWill: SessionWill | null = null;
  if (will !== null) {
    let willTopic = will.topic;
    if (listener.mountPoint !== null) willTopic = listener.mountPoint + willTopic;
    if (willTopic.startsWith('$CONTROL/')) {
      throw new BrokerError(
        ReasonCode.ProtocolError,
        'will topic under $CONTROL/',
        'MQTT-3.1.3-11',
        CloseReason.Other,
        'Access denied by ACL.',
      );
    }
    if (config.messageSizeLimit !== 0 && will.payload.length > config.messageSizeLimit) {
      broker.log.debug(`Client ${clientId} connected with too large Will payload`);
      throw new BrokerError(
        ReasonCode.PacketTooLarge,
        'will payload above message_size_limit',
        'MQTT-3.1.3-11',
        CloseReason.OversizePayload,
      );
    }
    const willProperties = will.properties;
    const expiry = willProperties.messageExpiryInterval;
    sessionWill = {
      message: new StoredMessage(
        willTopic,
        Buffer.from(will.payload),
        will.qos,
        will.retain,
        forwardedProperties(willProperties),
        expiry === undefined || expiry === 0 ? NEVER_EXPIRES : broker.clock.now() + expiry * 1000,
        clientId,
        username,
      ),
      delaySeconds: willProperties.willDelayInterval ?? 0,
    };
  }

  conn.clientId = clientId;
  if (tlsName === null) {
    // No certificate, no usable CN, or no PSK identity: CONNACK 4 / 0x86.
    throw new MqttError(ReasonCode.BadUserNameOrPassword, 'no usable TLS identity', 'MQTT-3.1.4');
  }
  conn.username = username;
  if (listener.useUsernameAsClientid) {
    if (username === null) {
      throw new MqttError(
        ReasonCode.NotAuthorized,
        'no username to use as client id',
        'MQTT-3.1.3',
      );
    }
    clientId = username;
    conn.clientId = clientId;
  }

  // max_auth_failures: a blocked address is refused before any password is hashed.
  refuseIfBlocked(conn);
  const method = properties.authenticationMethod;
  const plugins = conn.broker.security.plugins;
  if (method !== undefined && (plugins === null || !plugins.hasExtendedAuth)) {
    throw badAuthenticationMethod(conn);
  }
  // Likewise a zero-length password is no password: it matches no password_file entry.
  const password =
    tlsName === undefined && packet.password !== null && packet.password.length > 0
      ? packet.password
      : null;
  const request: ConnectRequest = {
    packet,
    clientId,
    assignedId,
    username,
    password,
    sessionWill,
  };
  if (method !== undefined) {
    // Enhanced authentication replaces the basic one (a plugin answers the method).
    extendedAuth(conn, request, method, 'start', properties.authenticationData ?? null);
    return;
  }
  // Basic authentication (password_file, allow_anonymous), unless TLS gave the username.
  if (tlsName === undefined) authenticateConnect(conn, request);
  else acceptConnect(conn, request);
}

/** No plugin knows the method [MQTT-4.12.0-1]; Mosquitto forgets the id before logging. */
function badAuthenticationMethod(conn: ClientConnection): MqttError {
  conn.clientId = '';
  return new MqttError(
    ReasonCode.BadAuthenticationMethod,
    'authentication method not supported',
    'MQTT-4.12.0-1',
  );
}

/**
 * One step of MQTT 5 enhanced authentication through the plugins: 'continue' sends the
 * client an AUTH and waits for its answer (handlers/auth.ts), 'allow' completes the
 * CONNECT with the method (and data) in the CONNACK.
 */
function extendedAuth(
  conn: ClientConnection,
  request: ConnectRequest,
  method: string,
  step: 'start' | 'continue',
  data: Buffer | null,
): void {
  const plugins = conn.broker.security.plugins;
  if (plugins === null) throw badAuthenticationMethod(conn);
  conn.state = ConnectionState.Authenticating;
  const client = pluginClientOf(conn);
  const event = { client, method, data, reauthenticating: false };
  void plugins.extendedAuth(conn.listener.config, step, event).then((answer) => {
    conn.continueConnect(() => {
      switch (answer.result) {
        case 'allow':
          // Kept for re-authentication, which must use the same method [MQTT-4.12.1-1].
          conn.authMethod = method;
          acceptConnect(conn, request, {
            authenticationMethod: method,
            ...(answer.data === undefined || answer.data.length === 0
              ? {}
              : { authenticationData: answer.data }),
          });
          return;
        case 'continue':
          conn.pendingAuth = {
            method,
            resume: (next) => {
              extendedAuth(conn, request, method, 'continue', next);
            },
          };
          send.auth(conn, 0x18, method, answer.data);
          return;
        case 'deny':
          noteLoginRefused(conn);
          throw notAuthorised(conn);
        default:
          throw badAuthenticationMethod(conn);
      }
    });
  });
}

/** What an authenticated CONNECT carries on with. */
interface ConnectRequest {
  readonly packet: ConnectPacket;
  readonly clientId: string;
  readonly assignedId: boolean;
  readonly username: string | null;
  /**
   * The CONNECT password, or null when TLS gave the username (Mosquitto discards it) or
   * it is empty.
   */
  readonly password: Buffer | null;
  readonly sessionWill: SessionWill | null;
}

/** A refusal for the credentials (counted for `/metrics`). */
function notAuthorised(conn: ClientConnection): MqttError {
  conn.broker.metrics.authFailures++;
  return new MqttError(ReasonCode.NotAuthorized, 'not authorised', 'MQTT-3.1.4-2');
}

/**
 * mosquitto_unpwd_check(). Most checks answer at once (no password file, $6$ hashes, 2.0's
 * 101-iteration PBKDF2, plugins answering synchronously) and the CONNACK goes out in this
 * turn. An expensive PBKDF2 hash runs on the thread pool, and a plugin may answer later:
 * meanwhile the connection is Authenticating and holds the packets that follow its
 * CONNECT, and other clients are served. A reload in between makes the check run again on
 * the new files.
 */
function authenticateConnect(conn: ClientConnection, request: ConnectRequest): void {
  const security = conn.broker.security;
  const verdict = security.authenticate(
    conn.listener.config,
    request.username,
    request.password,
    pluginClientOf(conn),
  );
  if (verdict === true) {
    acceptConnect(conn, request);
    return;
  }
  if (verdict === false) {
    noteLoginRefused(conn);
    throw notAuthorised(conn);
  }
  conn.state = ConnectionState.Authenticating;
  const generation = security.generation;
  void verdict.then((allowed) => {
    conn.continueConnect(() => {
      if (security.generation !== generation) authenticateConnect(conn, request);
      else if (allowed) acceptConnect(conn, request);
      else {
        noteLoginRefused(conn);
        throw notAuthorised(conn);
      }
    });
  });
}

/** The client is in: keepalive, session takeover or resume, CONNACK, resend. */
function acceptConnect(
  conn: ClientConnection,
  request: ConnectRequest,
  authProperties: Properties = EMPTY_PROPERTIES,
): void {
  const broker = conn.broker;
  const config = broker.config;
  const listener = conn.listener.config;
  const { packet, clientId, assignedId, username, password, sessionWill } = request;
  const version = packet.protocolVersion;
  const v5 = version === ProtocolVersion.V5;
  const properties = packet.properties;

  let keepalive = packet.keepalive;
  let serverKeepAlive = -1;
  if (config.maxKeepalive !== 0 && (keepalive > config.maxKeepalive || keepalive === 0)) {
    if (!v5) {
      throw new BrokerError(
        ReasonCode.ClientIdentifierNotValid,
        'keepalive outside max_keepalive',
        'MQTT-3.1.2-24',
        CloseReason.Other,
        'Invalid arguments provided.',
      );
    }
    keepalive = config.maxKeepalive;
    serverKeepAlive = keepalive;
  }

  let expiryInterval: number;
  if (v5) expiryInterval = properties.sessionExpiryInterval ?? 0;
  else expiryInterval = packet.cleanStart ? 0 : SESSION_NEVER_EXPIRES;

  const { session, sessionPresent } = broker.attachSession(conn, clientId, packet.cleanStart);
  session.protocolVersion = version;
  session.isBridge = packet.isBridge;
  session.username = username;
  session.cleanStart = packet.cleanStart;
  session.expiryInterval = expiryInterval;
  session.maxQos = listener.maxQos;
  session.inflightMaximum =
    v5 && properties.receiveMaximum !== undefined
      ? properties.receiveMaximum
      : config.maxInflightMessages;
  session.will = sessionWill;
  session.isDropping = false;
  session.listenerPort = conn.listener.port;
  session.willWallTime = 0;
  conn.clientMaximumPacketSize = v5 ? (properties.maximumPacketSize ?? 0) : 0;
  broker.security.admitted(conn, session, password, sessionWill?.message ?? null);

  if (config.log.connectionMessages) {
    const address = conn.transport.remoteAddress;
    const kind = packet.isBridge ? 'bridge' : 'client';
    const user = username === null ? '' : `, u'${username}'`;
    broker.log.notice(
      `New ${kind} connected from ${address}:${conn.transport.remotePort} as ${clientId} (p${protocolNumber(version)}, c${packet.cleanStart ? 1 : 0}, k${keepalive}${user}).`,
      {
        event: 'client_connected',
        client_id: clientId,
        username,
        address,
        port: conn.transport.remotePort,
        listener_port: conn.listener.port,
        protocol_version: protocolNumber(version),
        clean_start: packet.cleanStart,
        keepalive,
      },
    );
    if (sessionWill !== null) {
      const message = sessionWill.message;
      broker.log.debug(
        `Will message specified (${message.payload.length} bytes) (r${message.retain ? 1 : 0}, q${message.qos}).`,
      );
      broker.log.debug(`\t${message.topic}`);
    } else {
      broker.log.debug('No will message specified.');
    }
  }

  // The CONNACK properties of this connection; send.connack() adds the server's own
  // after them, in Mosquitto's order (features §3.3): the authentication method and data
  // come after the assigned client id (connect__on_authorised()).
  let connackProperties: Properties = EMPTY_PROPERTIES;
  if (v5) {
    const own: MutableProperties = {};
    if (serverKeepAlive >= 0) own.serverKeepAlive = serverKeepAlive;
    if (listener.maxTopicAlias > 0) own.topicAliasMaximum = listener.maxTopicAlias;
    if (assignedId) own.assignedClientIdentifier = clientId;
    Object.assign(own, authProperties);
    connackProperties = own;
  }
  broker.completeConnect(conn, session, sessionPresent, keepalive, connackProperties);
  broker.persistence?.noteSession(session);
}

/** Mosquitto 2.0 prints its internal protocol enum: 1 = 3.1, 2 = 3.1.1, 5 = 5.0. */
function protocolNumber(version: ProtocolVersion): number {
  switch (version) {
    case ProtocolVersion.V31:
      return 1;
    case ProtocolVersion.V311:
      return 2;
    case ProtocolVersion.V5:
      return 5;
  }
}
