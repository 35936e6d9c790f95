/**
 * Decoders for packet bodies (variable header and payload), one per packet type. The
 * FrameDecoder has already checked the fixed header (type, flags, fixed sizes) and hands
 * over a reader positioned on the body. Each decoder builds its packet with one object
 * literal, fields in interface order, so all packets of a type share a hidden class.
 *
 * The reason codes follow Mosquitto 2.0.x's handlers (handle_*.c), which are not always
 * the ones the specification names: e.g. a SUBSCRIBE with packet identifier 0 is a
 * malformed packet, a PUBLISH with packet identifier 0 a protocol error.
 */
import type { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion, ReasonCode } from './constants.ts';
import type { QoS } from './constants.ts';
import { MqttError } from './errors.ts';
import { EMPTY_PROPERTIES } from './packets.ts';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  PingreqPacket,
  PingrespPacket,
  Properties,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from './packets.ts';
import { decodeProperties, WILL_PROPERTIES } from './properties.ts';
import type { PropertyDecodeMode } from './properties.ts';
import { checkMqttUtf8, Utf8Problem } from './primitives.ts';
import type { PacketReader } from './reader.ts';
import { FilterProblem, filterProblem, isValidTopicName } from './topic.ts';

const PROTOCOL_MODE: PropertyDecodeMode = {
  invalidCode: ReasonCode.ProtocolError,
  serverSide: false,
};
const SERVER_PROTOCOL_MODE: PropertyDecodeMode = {
  invalidCode: ReasonCode.ProtocolError,
  serverSide: true,
};
/** Mosquitto turns property protocol errors into malformed packets in (UN)SUBSCRIBE. */
const SUBSCRIBE_MODE: PropertyDecodeMode = {
  invalidCode: ReasonCode.MalformedPacket,
  serverSide: true,
};

function modeFor(serverSide: boolean): PropertyDecodeMode {
  return serverSide ? SERVER_PROTOCOL_MODE : PROTOCOL_MODE;
}

function expectEnd(reader: PacketReader, what: string, code: number, specRef: string): void {
  if (reader.pos !== reader.end) {
    throw new MqttError(
      code,
      `${reader.end - reader.pos} surplus bytes after the ${what}`,
      specRef,
    );
  }
}

function packetIdentifier(reader: PacketReader, zeroCode: number): number {
  const id = reader.u16('packet identifier');
  if (id === 0) throw new MqttError(zeroCode, 'packet identifier 0', 'MQTT-2.2.1-3');
  return id;
}

// ---------------------------------------------------------------------------- CONNECT

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
  if (!asString) return reader.buf.subarray(start, start + len);
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

// ---------------------------------------------------------------------------- CONNACK

export function decodeConnack(reader: PacketReader, version: ProtocolVersion): ConnackPacket {
  const ackFlags = reader.byte('acknowledge flags');
  if ((ackFlags & 0xfe) !== 0) {
    throw new MqttError(
      ReasonCode.MalformedPacket,
      'CONNACK reserved flags are set',
      'MQTT-3.2.2-1',
    );
  }
  const reasonCode = reader.byte('reason code');
  // A v5 client refused by a v3 server gets the two-byte form (return code 1).
  const properties =
    version === ProtocolVersion.V5 && reader.remaining > 0
      ? decodeProperties(reader, PacketType.Connack, PROTOCOL_MODE)
      : EMPTY_PROPERTIES;
  expectEnd(reader, 'CONNACK', ReasonCode.MalformedPacket, 'MQTT-3.2');
  return { type: PacketType.Connack, sessionPresent: ackFlags === 1, reasonCode, properties };
}

// ---------------------------------------------------------------------------- PUBLISH

/** The hot path: a QoS 0/1 PUBLISH without properties allocates the packet and two views. */
export function decodePublish(
  reader: PacketReader,
  flags: number,
  version: ProtocolVersion,
  serverSide: boolean,
): PublishPacket {
  const qos = ((flags >> 1) & 0x03) as QoS;
  const topic = reader.topicName();
  if (topic.length === 0 && version !== ProtocolVersion.V5) {
    throw new MqttError(ReasonCode.MalformedPacket, 'empty topic name', 'MQTT-4.7.3-1');
  }
  const packetId = qos > 0 ? packetIdentifier(reader, ReasonCode.ProtocolError) : 0;
  let properties = EMPTY_PROPERTIES;
  if (version === ProtocolVersion.V5) {
    properties = decodeProperties(reader, PacketType.Publish, modeFor(serverSide));
    if (topic.length === 0 && properties.topicAlias === undefined) {
      // The specification calls this a protocol error; Mosquitto a malformed packet.
      throw new MqttError(
        ReasonCode.MalformedPacket,
        'empty topic name without a topic alias',
        'MQTT-3.3.2-1',
      );
    }
  }
  if (!reader.topicNameValid) {
    throw new MqttError(
      ReasonCode.MalformedPacket,
      `invalid topic name "${topic}" (wildcard, or more than 200 levels)`,
      'MQTT-3.3.2-2',
    );
  }
  return {
    type: PacketType.Publish,
    dup: (flags & 0x08) !== 0,
    qos,
    retain: (flags & 0x01) !== 0,
    topic,
    packetId,
    payload: reader.rest(),
    properties,
  };
}

// ------------------------------------------------------- PUBACK PUBREC PUBREL PUBCOMP

/** Reason codes Mosquitto accepts on PUBACK and PUBREC (anything else: protocol error). */
const PUBACK_REASONS = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
/** ... and on PUBREL and PUBCOMP. */
const PUBREL_REASONS = new Set([0x00, 0x92]);

type AckType =
  | typeof PacketType.Puback
  | typeof PacketType.Pubrec
  | typeof PacketType.Pubrel
  | typeof PacketType.Pubcomp;
type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;

export function decodeAck(
  reader: PacketReader,
  type: AckType,
  version: ProtocolVersion,
): AckPacket {
  const packetId = packetIdentifier(reader, ReasonCode.ProtocolError);
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (version === ProtocolVersion.V5 && reader.remaining > 0) {
    reasonCode = reader.byte('reason code');
    const allowed =
      type === PacketType.Puback || type === PacketType.Pubrec ? PUBACK_REASONS : PUBREL_REASONS;
    // Mosquitto checks PUBREC/PUBREL codes before the properties, PUBACK/PUBCOMP after.
    const checkFirst = type === PacketType.Pubrec || type === PacketType.Pubrel;
    if (checkFirst && !allowed.has(reasonCode)) throw badAckReason(type, reasonCode);
    if (reader.remaining > 0) properties = decodeProperties(reader, type, PROTOCOL_MODE);
    if (!checkFirst && !allowed.has(reasonCode)) throw badAckReason(type, reasonCode);
  }
  expectEnd(reader, 'acknowledgement', ReasonCode.MalformedPacket, 'MQTT-3.4.2');
  return { type, packetId, reasonCode, properties };
}

function badAckReason(type: number, reasonCode: number): MqttError {
  return new MqttError(
    ReasonCode.ProtocolError,
    `reason code 0x${reasonCode.toString(16)} is not valid in packet type ${type}`,
    'MQTT-3.4.2.1',
  );
}

// ------------------------------------------------------------------ SUBSCRIBE, SUBACK

function checkFilter(filter: string): FilterProblem {
  if (filter.length === 0) {
    throw new MqttError(ReasonCode.MalformedPacket, 'empty topic filter', 'MQTT-4.7.3-1');
  }
  const problem = filterProblem(filter);
  if (problem === FilterProblem.Invalid) {
    throw new MqttError(
      ReasonCode.MalformedPacket,
      `invalid topic filter "${filter}"`,
      'MQTT-4.7.1-1',
    );
  }
  return problem;
}

function invalidShare(filter: string): MqttError {
  return new MqttError(
    ReasonCode.ProtocolError,
    `invalid shared subscription "${filter}"`,
    'MQTT-4.8.2-1',
  );
}

export function decodeSubscribe(reader: PacketReader, version: ProtocolVersion): SubscribePacket {
  const packetId = packetIdentifier(reader, ReasonCode.MalformedPacket);
  let properties = EMPTY_PROPERTIES;
  if (version === ProtocolVersion.V5) {
    properties = decodeProperties(reader, PacketType.Subscribe, SUBSCRIBE_MODE);
    if (properties.subscriptionIdentifiers?.[0] === 0) {
      throw new MqttError(
        ReasonCode.MalformedPacket,
        'subscription identifier 0',
        'MQTT-3.8.2.1.2',
      );
    }
  }
  const subscriptions: Subscription[] = [];
  while (reader.pos < reader.end) {
    const topicFilter = reader.string('topic filter');
    const problem = checkFilter(topicFilter);
    const options = reader.byte('subscription options');
    let qos: number;
    let noLocal = false;
    let retainAsPublished = false;
    let retainHandling = 0;
    if (version === ProtocolVersion.V5) {
      qos = options & 0x03;
      noLocal = (options & 0x04) !== 0;
      retainAsPublished = (options & 0x08) !== 0;
      retainHandling = (options >> 4) & 0x03;
      if (noLocal && topicFilter.startsWith('$share/')) {
        throw new MqttError(
          ReasonCode.ProtocolError,
          'No Local on a shared subscription',
          'MQTT-3.8.3-4',
        );
      }
      if (retainHandling === 3 || (options & 0xc0) !== 0) {
        throw new MqttError(
          ReasonCode.MalformedPacket,
          'reserved subscription option bits or Retain Handling 3',
          'MQTT-3.8.3-5',
        );
      }
    } else {
      qos = options; // the upper six bits are reserved: any of them makes qos > 2
    }
    if (qos > 2) {
      throw new MqttError(ReasonCode.MalformedPacket, `requested QoS ${qos}`, 'MQTT-3.8.3-4');
    }
    if (problem === FilterProblem.InvalidShare) throw invalidShare(topicFilter);
    subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal,
      retainAsPublished,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  // MQTT 3.1 had no such rule and Mosquitto still accepts an empty 3.1 SUBSCRIBE.
  if (subscriptions.length === 0 && version !== ProtocolVersion.V31) {
    throw new MqttError(
      ReasonCode.MalformedPacket,
      'SUBSCRIBE without topic filters',
      'MQTT-3.8.3-2',
    );
  }
  return { type: PacketType.Subscribe, packetId, subscriptions, properties };
}

export function decodeSuback(reader: PacketReader, version: ProtocolVersion): SubackPacket {
  const packetId = packetIdentifier(reader, ReasonCode.ProtocolError);
  const properties =
    version === ProtocolVersion.V5
      ? decodeProperties(reader, PacketType.Suback, PROTOCOL_MODE)
      : EMPTY_PROPERTIES;
  const reasonCodes = Array.from(reader.rest());
  if (reasonCodes.length === 0) {
    throw new MqttError(ReasonCode.ProtocolError, 'SUBACK without return codes', 'MQTT-3.9.3');
  }
  return { type: PacketType.Suback, packetId, reasonCodes, properties };
}

// -------------------------------------------------------------- UNSUBSCRIBE, UNSUBACK

export function decodeUnsubscribe(
  reader: PacketReader,
  version: ProtocolVersion,
): UnsubscribePacket {
  const packetId = packetIdentifier(reader, ReasonCode.MalformedPacket);
  const properties =
    version === ProtocolVersion.V5
      ? decodeProperties(reader, PacketType.Unsubscribe, SUBSCRIBE_MODE)
      : EMPTY_PROPERTIES;
  if (reader.pos === reader.end && version !== ProtocolVersion.V31) {
    throw new MqttError(
      ReasonCode.MalformedPacket,
      'UNSUBSCRIBE without topic filters',
      'MQTT-3.10.3-2',
    );
  }
  const topicFilters: string[] = [];
  while (reader.pos < reader.end) {
    const filter = reader.string('topic filter');
    if (checkFilter(filter) === FilterProblem.InvalidShare) throw invalidShare(filter);
    topicFilters.push(filter);
  }
  return { type: PacketType.Unsubscribe, packetId, topicFilters, properties };
}

export function decodeUnsuback(reader: PacketReader, version: ProtocolVersion): UnsubackPacket {
  const packetId = packetIdentifier(reader, ReasonCode.ProtocolError);
  let properties = EMPTY_PROPERTIES;
  let reasonCodes: number[] = [];
  if (version === ProtocolVersion.V5) {
    properties = decodeProperties(reader, PacketType.Unsuback, PROTOCOL_MODE);
    reasonCodes = Array.from(reader.rest());
  }
  expectEnd(reader, 'UNSUBACK', ReasonCode.MalformedPacket, 'MQTT-3.11');
  return { type: PacketType.Unsuback, packetId, reasonCodes, properties };
}

// ------------------------------------------------------ PINGREQ PINGRESP DISCONNECT AUTH

/** Bodiless packets are immutable singletons. */
export const PINGREQ: PingreqPacket = Object.freeze({ type: PacketType.Pingreq });
export const PINGRESP: PingrespPacket = Object.freeze({ type: PacketType.Pingresp });

export function decodeDisconnect(
  reader: PacketReader,
  version: ProtocolVersion,
  serverSide: boolean,
): DisconnectPacket {
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (version === ProtocolVersion.V5 && reader.remaining > 0) {
    reasonCode = reader.byte('reason code');
    if (reader.remaining > 0) {
      properties = decodeProperties(reader, PacketType.Disconnect, modeFor(serverSide));
    }
  }
  // Mosquitto: surplus bytes in DISCONNECT are a protocol error (handle_disconnect.c).
  expectEnd(reader, 'DISCONNECT', ReasonCode.ProtocolError, 'MQTT-3.14');
  return { type: PacketType.Disconnect, reasonCode, properties };
}

const AUTH_REASONS = new Set([0x00, 0x18, 0x19]);

export function decodeAuth(reader: PacketReader): AuthPacket {
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (reader.remaining > 0) {
    reasonCode = reader.byte('reason code');
    if (!AUTH_REASONS.has(reasonCode)) {
      throw new MqttError(
        ReasonCode.ProtocolError,
        `reason code 0x${reasonCode.toString(16)} is not valid in AUTH`,
        'MQTT-3.15.2.1',
      );
    }
    // Mosquitto always reads a property block after the reason code.
    properties = decodeProperties(reader, PacketType.Auth, PROTOCOL_MODE);
  }
  expectEnd(reader, 'AUTH', ReasonCode.MalformedPacket, 'MQTT-3.15');
  return { type: PacketType.Auth, reasonCode, properties };
}
