/**
 * The CONNECT decoder. CONNECT is decoded with its own protocol level, whatever the
 * decoder's version, and with Mosquitto's rules (handle_connect.c): unreadable fields
 * are protocol errors, not malformed packets, and MQTT 3.1 is lenient about reserved
 * flags and about a user name or password flag without the field.
 */
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion, ReasonCode } from './constants.ts';
import type { QoS } from './constants.ts';
import { expectEnd, modeFor } from './decode-common.ts';
import { MqttError } from './errors.ts';
import { EMPTY_PROPERTIES } from './packets.ts';
import type { ConnectPacket, Properties, Will } from './packets.ts';
import { decodeProperties, WILL_PROPERTIES } from './properties.ts';
import { checkMqttUtf8, Utf8Problem } from './primitives.ts';
import type { PacketReader } from './reader.ts';
import { isValidTopicName } from './topic.ts';

const MQTT_NAME = [0x4d, 0x51, 0x54, 0x54]; // "MQTT"
const MQISDP_NAME = [0x4d, 0x51, 0x49, 0x73, 0x64, 0x70]; // "MQIsdp"

function bytesEqual(buf: Buffer, start: number, expected: readonly number[]): boolean {
  for (let i = 0; i < expected.length; i++) {
    if (buf[start + i] !== expected[i]) return false;
  }
  return true;
}

/**
 * A string that MQTT 3.1 lets be missing: Mosquitto ignores a user name or password
 * that cannot be read. Advances like Mosquitto's reader (past the length prefix when
 * the bytes are short, past the string when it is bad UTF-8).
 */
function lenientField(reader: PacketReader, asString: boolean): string | Buffer | null {
  if (reader.remaining < 2) return null;
  const len = reader.u16('field');
  const start = reader.pos;
  if (len > reader.end - start) return null;
  reader.pos = start + len;
  if (!asString) return Buffer.from(reader.buf.buffer, reader.buf.byteOffset + start, len);
  if (checkMqttUtf8(reader.buf, start, start + len) !== Utf8Problem.None) return null;
  return reader.buf.toString('utf8', start, start + len);
}

export function decodeConnect(
  reader: PacketReader,
  flags: number,
  serverSide: boolean,
): ConnectPacket {
  // Mosquitto reports unreadable CONNECT fields as protocol errors (handle_connect.c).
  reader.failCode = ReasonCode.ProtocolError;
  const nameLength = reader.u16('protocol name');
  const buf = reader.buf;
  const nameStart = reader.pos;
  let protocolName: string;
  if (nameLength === 4 && reader.remaining >= 4 && bytesEqual(buf, nameStart, MQTT_NAME)) {
    protocolName = 'MQTT';
  } else if (nameLength === 6 && reader.remaining >= 6 && bytesEqual(buf, nameStart, MQISDP_NAME)) {
    protocolName = 'MQIsdp';
  } else {
    throw new MqttError(ReasonCode.ProtocolError, 'unknown protocol name', 'MQTT-3.1.2-1');
  }
  reader.pos += nameLength;
  const level = reader.byte('protocol level');
  // The 0x80 bit marks a Mosquitto bridge (3.1/3.1.1 only); 0x85 is not accepted.
  const base = level & 0x7f;
  const known = protocolName === 'MQIsdp' ? base === 3 : base === 4 || level === 5;
  if (!known) {
    throw new MqttError(
      ReasonCode.UnsupportedProtocolVersion,
      `unsupported protocol level ${level} for ${protocolName}`,
      'MQTT-3.1.2-2',
    );
  }
  const protocolVersion = base as ProtocolVersion;
  const isBridge = (level & 0x80) !== 0;
  const v3x = protocolVersion !== ProtocolVersion.V5;
  const strict = protocolVersion !== ProtocolVersion.V31;
  if (strict && flags !== 0) {
    throw new MqttError(
      ReasonCode.ProtocolError,
      'CONNECT fixed-header flags are not 0',
      'MQTT-2.1.3-1',
    );
  }

  const connectFlags = reader.byte('connect flags');
  if (strict && (connectFlags & 0x01) !== 0) {
    throw new MqttError(ReasonCode.ProtocolError, 'CONNECT reserved flag is set', 'MQTT-3.1.2-3');
  }
  const cleanStart = (connectFlags & 0x02) !== 0;
  const willFlag = (connectFlags & 0x04) !== 0;
  const willQoS = (connectFlags >> 3) & 0x03;
  const willRetain = (connectFlags & 0x20) !== 0;
  const passwordFlag = (connectFlags & 0x40) !== 0;
  const usernameFlag = (connectFlags & 0x80) !== 0;
  if (willQoS === 3) {
    throw new MqttError(ReasonCode.ProtocolError, 'Will QoS is 3', 'MQTT-3.1.2-12');
  }
  const keepalive = reader.u16('keep alive');

  let properties: Properties = EMPTY_PROPERTIES;
  const mode = modeFor(serverSide);
  if (!v3x) {
    reader.failCode = ReasonCode.MalformedPacket;
    properties = decodeProperties(reader, PacketType.Connect, mode);
    reader.failCode = ReasonCode.ProtocolError;
  }
  const clientId = reader.string('client identifier');

  let will: Will | null = null;
  if (willFlag) {
    reader.failCode = ReasonCode.MalformedPacket;
    const willProperties = v3x ? EMPTY_PROPERTIES : decodeProperties(reader, WILL_PROPERTIES, mode);
    const topic = reader.string('will topic');
    if (!isValidTopicName(topic)) {
      throw new MqttError(
        ReasonCode.ProtocolError,
        `invalid will topic "${topic}"`,
        'MQTT-3.1.3-11',
      );
    }
    const payload = reader.binary('will payload');
    will = { topic, payload, qos: willQoS as QoS, retain: willRetain, properties: willProperties };
    reader.failCode = ReasonCode.ProtocolError;
  } else if (strict && (willQoS !== 0 || willRetain)) {
    throw new MqttError(
      ReasonCode.ProtocolError,
      'Will QoS or Will Retain set without the Will Flag',
      willQoS !== 0 ? 'MQTT-3.1.2-11' : 'MQTT-3.1.2-13',
    );
  }

  let username: string | null = null;
  let password: Buffer | null = null;
  if (usernameFlag) {
    username = strict ? reader.string('user name') : (lenientField(reader, true) as string | null);
  } else if (v3x && passwordFlag) {
    throw new MqttError(ReasonCode.ProtocolError, 'password without user name', 'MQTT-3.1.2-22');
  }
  if (passwordFlag) {
    password = strict ? reader.binary('password') : (lenientField(reader, false) as Buffer | null);
    // A 3.1 password whose user name was unreadable is read but dropped: without a user
    // name it authenticates nothing, and {username: null, password} is not a valid
    // packet (it would not survive encoding and decoding again).
    if (!strict && username === null) password = null;
  }
  expectEnd(reader, 'CONNECT payload', ReasonCode.ProtocolError, 'MQTT-3.1.3');

  return {
    type: PacketType.Connect,
    protocolName,
    protocolVersion,
    isBridge,
    cleanStart,
    keepalive,
    clientId,
    will,
    username,
    password,
    properties,
  };
}
