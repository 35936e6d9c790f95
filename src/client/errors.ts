/**
 * The client library's errors. Every failure is an MqttClientError with a stable string
 * `code` and the libmosquitto error number it corresponds to (`mosqErrno`), which the
 * command-line tools use as their exit status and message, as Mosquitto's tools do.
 * Refusals and negative acknowledgements from the broker are subclasses carrying the
 * MQTT reason code and the packet's properties (reason string, user properties).
 */
import type { Properties } from '../protocol/packets.ts';

/** libmosquitto's mosq_err_t numbers (include/mosquitto.h). */
export const MosqErr = {
  Success: 0,
  NoMem: 1,
  Protocol: 2,
  Inval: 3,
  NoConn: 4,
  ConnRefused: 5,
  NotFound: 6,
  ConnLost: 7,
  Tls: 8,
  PayloadSize: 9,
  NotSupported: 10,
  Auth: 11,
  AclDenied: 12,
  Unknown: 13,
  Errno: 14,
  Eai: 15,
  Proxy: 16,
  PluginDefer: 17,
  MalformedUtf8: 18,
  Keepalive: 19,
  Lookup: 20,
  MalformedPacket: 21,
  DuplicateProperty: 22,
  TlsHandshake: 23,
  QosNotSupported: 24,
  OversizePacket: 25,
  Ocsp: 26,
  Timeout: 27,
  RetainNotSupported: 28,
  TopicAliasInvalid: 29,
  AdministrativeAction: 30,
  AlreadyExists: 31,
} as const;
export type MosqErr = (typeof MosqErr)[keyof typeof MosqErr];

/** Stable names for what went wrong; one libmosquitto number each. */
export const ClientErrorCode = {
  /** An argument the library refuses (bad topic, QoS, property...). */
  InvalidArgument: 'ERR_MQTT_INVALID_ARGUMENT',
  /** The broker answered CONNECT with a non-zero return/reason code. */
  ConnectionRefused: 'ERR_MQTT_CONNECTION_REFUSED',
  /** The connection broke (socket error or end of stream) outside an orderly close. */
  ConnectionLost: 'ERR_MQTT_CONNECTION_LOST',
  /** A socket-level error while connecting (errno: ECONNREFUSED, ENOENT...). */
  SocketError: 'ERR_MQTT_SOCKET',
  /** The broker's name did not resolve. */
  LookupFailed: 'ERR_MQTT_LOOKUP',
  /** A certificate, key or CA file/directory could not be read. */
  TlsFile: 'ERR_MQTT_TLS_FILE',
  /** TLS set-up or handshake failed. */
  Tls: 'ERR_MQTT_TLS',
  /** The SOCKS5 proxy failed or refused. */
  Proxy: 'ERR_MQTT_PROXY',
  /** The broker sent something the protocol forbids, or undecodable bytes. */
  Protocol: 'ERR_MQTT_PROTOCOL',
  /** The broker did not answer a PINGREQ within the keepalive. */
  KeepaliveTimeout: 'ERR_MQTT_KEEPALIVE',
  /** CONNACK did not arrive in time. */
  ConnectTimeout: 'ERR_MQTT_CONNECT_TIMEOUT',
  /** The broker sent DISCONNECT (MQTT 5). */
  ServerDisconnect: 'ERR_MQTT_SERVER_DISCONNECT',
  /** A PUBACK/PUBREC/SUBACK/UNSUBACK carried a failure reason code. */
  Rejected: 'ERR_MQTT_REJECTED',
  /** The broker's CONNACK limits forbid it (QoS, retain, packet size). */
  NotSupported: 'ERR_MQTT_NOT_SUPPORTED',
  /** The packet is larger than the broker's Maximum Packet Size. */
  PacketTooLarge: 'ERR_MQTT_PACKET_TOO_LARGE',
  /** The operation's AbortSignal fired. */
  Aborted: 'ERR_MQTT_ABORTED',
  /** The client was closed (end()) before the operation completed. */
  ClientClosed: 'ERR_MQTT_CLIENT_CLOSED',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class MqttClientError extends Error {
  override name = 'MqttClientError';
  readonly code: ClientErrorCode;
  /** The libmosquitto error number for the same failure (exit status of the tools). */
  readonly mosqErrno: number;

  constructor(code: ClientErrorCode, mosqErrno: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.mosqErrno = mosqErrno;
  }
}

/** CONNACK with a non-zero code: 1-5 (MQTT 3.1/3.1.1) or a reason code >= 0x80 (MQTT 5). */
export class ConnectionRefusedError extends MqttClientError {
  override name = 'ConnectionRefusedError';
  readonly reasonCode: number;
  readonly properties: Properties;
  constructor(reasonCode: number, properties: Properties, message: string) {
    super(ClientErrorCode.ConnectionRefused, MosqErr.ConnRefused, message);
    this.reasonCode = reasonCode;
    this.properties = properties;
  }
}

/** An acknowledgement with a failure reason code (>= 0x80). */
export class ReasonCodeError extends MqttClientError {
  override name = 'ReasonCodeError';
  readonly reasonCode: number;
  readonly properties: Properties;
  /** The packet identifier ("mid") of the failed operation. */
  readonly mid: number;
  constructor(mid: number, reasonCode: number, properties: Properties, message: string) {
    super(ClientErrorCode.Rejected, reasonCode, message);
    this.mid = mid;
    this.reasonCode = reasonCode;
    this.properties = properties;
  }
}

/** The broker closed the connection with a DISCONNECT (MQTT 5). */
export class ServerDisconnectError extends MqttClientError {
  override name = 'ServerDisconnectError';
  readonly reasonCode: number;
  readonly properties: Properties;
  constructor(reasonCode: number, properties: Properties) {
    super(
      ClientErrorCode.ServerDisconnect,
      MosqErr.ConnLost,
      `the broker disconnected: ${reasonString(reasonCode)}`,
    );
    this.reasonCode = reasonCode;
    this.properties = properties;
  }
}

export function abortError(signal: AbortSignal): MqttClientError {
  const reason: unknown = signal.reason;
  return new MqttClientError(
    ClientErrorCode.Aborted,
    MosqErr.Unknown,
    'the operation was aborted',
    reason === undefined ? undefined : { cause: reason },
  );
}

export function closedError(): MqttClientError {
  return new MqttClientError(
    ClientErrorCode.ClientClosed,
    MosqErr.NoConn,
    'the client was closed before the operation completed',
  );
}

/** libmosquitto's mosquitto_strerror(), word for word. */
export function mosquittoStrerror(mosqErrno: number): string {
  const text = STRERROR[mosqErrno];
  if (text !== undefined) return text;
  return mosqErrno >= 128 ? reasonString(mosqErrno) : 'Unknown error.';
}

const STRERROR: Readonly<Record<number, string>> = {
  0: 'No error.',
  1: 'Out of memory.',
  2: 'A network protocol error occurred when communicating with the broker.',
  3: 'Invalid arguments provided.',
  4: 'The client is not currently connected.',
  5: 'The connection was refused.',
  6: 'Message not found (internal error).',
  7: 'The connection was lost.',
  8: 'A TLS error occurred.',
  9: 'Payload too large.',
  10: 'This feature is not supported.',
  11: 'Authorisation failed.',
  12: 'Access denied by ACL.',
  13: 'Unknown error.',
  15: 'Lookup error.',
  16: 'Proxy error.',
  18: 'Malformed UTF-8',
  19: 'Keepalive exceeded',
  20: 'DNS Lookup failed',
  22: 'Duplicate property in property list',
  23: 'TLS handshake failed.',
  24: 'Requested QoS not supported on server.',
  25: 'Packet larger than supported by the server.',
  26: 'OCSP error.',
};

/** libmosquitto's mosquitto_connack_string() for MQTT 3.1/3.1.1 return codes. */
export function connackString(code: number): string {
  switch (code) {
    case 0:
      return 'Connection Accepted.';
    case 1:
      return 'Connection Refused: unacceptable protocol version.';
    case 2:
      return 'Connection Refused: identifier rejected.';
    case 3:
      return 'Connection Refused: broker unavailable.';
    case 4:
      return 'Connection Refused: bad user name or password.';
    case 5:
      return 'Connection Refused: not authorised.';
    default:
      return 'Connection Refused: unknown reason.';
  }
}

const REASON_STRINGS: Readonly<Record<number, string>> = {
  0x00: 'Success',
  0x01: 'Granted QoS 1',
  0x02: 'Granted QoS 2',
  0x04: 'Disconnect with Will Message',
  0x10: 'No matching subscribers',
  0x11: 'No subscription existed',
  0x18: 'Continue authentication',
  0x19: 'Re-authenticate',
  0x80: 'Unspecified error',
  0x81: 'Malformed Packet',
  0x82: 'Protocol Error',
  0x83: 'Implementation specific error',
  0x84: 'Unsupported Protocol Version',
  0x85: 'Client Identifier not valid',
  0x86: 'Bad User Name or Password',
  0x87: 'Not authorized',
  0x88: 'Server unavailable',
  0x89: 'Server busy',
  0x8a: 'Banned',
  0x8b: 'Server shutting down',
  0x8c: 'Bad authentication method',
  0x8d: 'Keep Alive timeout',
  0x8e: 'Session taken over',
  0x8f: 'Topic Filter invalid',
  0x90: 'Topic Name invalid',
  0x91: 'Packet Identifier in use',
  0x92: 'Packet Identifier not found',
  0x93: 'Receive Maximum exceeded',
  0x94: 'Topic Alias invalid',
  0x95: 'Packet too large',
  0x96: 'Message rate too high',
  0x97: 'Quota exceeded',
  0x98: 'Administrative action',
  0x99: 'Payload format invalid',
  0x9a: 'Retain not supported',
  0x9b: 'QoS not supported',
  0x9c: 'Use another server',
  0x9d: 'Server moved',
  0x9e: 'Shared Subscriptions not supported',
  0x9f: 'Connection rate exceeded',
  0xa0: 'Maximum connect time',
  0xa1: 'Subscription identifiers not supported',
  0xa2: 'Wildcard Subscriptions not supported',
};

/** libmosquitto's mosquitto_reason_string() for MQTT 5 reason codes. */
export function reasonString(code: number): string {
  return REASON_STRINGS[code] ?? 'Unknown reason';
}
