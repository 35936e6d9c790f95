/**
 * The CONNECT a client sends, from its ConnectOptions: the checks made before any socket
 * is opened (protocol level, keepalive range, will topic, client id rules) and the packet
 * itself. MQTT 3.1 requires a client id; without one, libmosquitto's "mosq-" + 18 random
 * alphanumerics is used.
 */
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion } from '../protocol/constants.ts';
import { EMPTY_PROPERTIES, type ConnectPacket } from '../protocol/packets.ts';
import { isValidTopicName } from '../protocol/topic.ts';
import { ClientErrorCode, MosqErr, MqttClientError } from './errors.ts';
import type { ConnectOptions } from './options.ts';

const ALPHANUMERIC = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

function invalid(message: string): MqttClientError {
  return new MqttClientError(ClientErrorCode.InvalidArgument, MosqErr.Inval, message);
}

/** A payload or password as bytes (strings as UTF-8). */
export function toBuffer(payload: string | Uint8Array | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
}

/**
 * Validates the options; returns the client id to use (null: let the broker assign one).
 * Throws ERR_MQTT_INVALID_ARGUMENT.
 */
export async function checkConnectOptions(options: ConnectOptions): Promise<string | null> {
  const version: number = options.protocolVersion ?? ProtocolVersion.V5;
  let clientId =
    options.clientId === undefined || options.clientId === '' ? null : options.clientId;
  if (
    version !== ProtocolVersion.V31 &&
    version !== ProtocolVersion.V311 &&
    version !== ProtocolVersion.V5
  ) {
    throw invalid(`unsupported protocol version ${String(version)}`);
  }
  if (clientId === null && version === ProtocolVersion.V31) {
    const { randomBytes } = await import('node:crypto');
    const bytes = randomBytes(18);
    clientId = 'mosq-' + Array.from(bytes, (b) => ALPHANUMERIC[(b & 0x7f) % 62]).join('');
  }
  if (options.cleanStart === false && clientId === null && version !== ProtocolVersion.V5) {
    throw invalid('a client id is required for a persistent session');
  }
  const keepalive = options.keepalive ?? 60;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65_535) {
    throw invalid('keepalive must be 0-65535 seconds');
  }
  if (options.will !== undefined && !isValidTopicName(options.will.topic)) {
    throw invalid(`invalid will topic '${options.will.topic}'`);
  }
  if (
    version !== ProtocolVersion.V5 &&
    options.password !== undefined &&
    options.username === undefined
  ) {
    throw invalid('MQTT 3.1/3.1.1 needs a username to send a password');
  }
  return clientId;
}

/** The CONNECT packet; credentials from the URL apply when the options give none. */
export function buildConnectPacket(
  options: ConnectOptions,
  version: ProtocolVersion,
  clientId: string | null,
  urlCredentials: { readonly username: string | undefined; readonly password: string | undefined },
): ConnectPacket {
  const username = options.username ?? urlCredentials.username;
  const password = options.password ?? urlCredentials.password;
  const will = options.will;
  return {
    type: PacketType.Connect,
    protocolName: version === ProtocolVersion.V31 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    isBridge: false,
    cleanStart: options.cleanStart ?? true,
    keepalive: options.keepalive ?? 60,
    clientId: clientId ?? '',
    will:
      will === undefined
        ? null
        : {
            topic: will.topic,
            payload: toBuffer(will.payload),
            qos: will.qos ?? 0,
            retain: will.retain ?? false,
            properties: will.properties ?? EMPTY_PROPERTIES,
          },
    username: username ?? null,
    password: password === undefined ? null : toBuffer(password),
    properties:
      version === ProtocolVersion.V5 ? (options.properties ?? EMPTY_PROPERTIES) : EMPTY_PROPERTIES,
  };
}
