/**
 * Decoders for packet bodies (variable header and payload), one per packet type (CONNECT
 * in connect-decoder.ts). The
 * FrameDecoder has already checked the fixed header (type, flags, fixed sizes) and hands
 * over a reader positioned on the body. Each decoder builds its packet with one object
 * literal, fields in interface order, so all packets of a type share a hidden class.
 *
 * The reason codes follow Mosquitto 2.0.x's handlers (handle_*.c), which are not always
 * the ones the specification names: e.g. a SUBSCRIBE with packet identifier 0 is a
 * malformed packet, a PUBLISH with packet identifier 0 a protocol error.
 */
import { PacketType, ProtocolVersion, ReasonCode } from './constants.ts';
import type { QoS } from './constants.ts';
import {
  expectEnd,
  modeFor,
  packetIdentifier,
  PROTOCOL_MODE,
  SUBSCRIBE_MODE,
} from './decode-common.ts';
import { MqttError } from './errors.ts';
import { EMPTY_PROPERTIES } from './packets.ts';
import type {
  AuthPacket,
  ConnackPacket,
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
} from './packets.ts';
import { decodeProperties } from './properties.ts';
import type { PacketReader } from './reader.ts';
import { viewOf } from './reader.ts';
import { FilterProblem, filterProblem, parseSharedFilter } from './topic.ts';

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

/**
 * A PUBLISH whose payload view is made when it is first read (FrameDecoderOptions
 * lazyPayloads). A broker forwarding the received frame as it came never reads it, and
 * making a Buffer view costs about as much as decoding the rest of the packet.
 * `payloadSource[payloadStart .. payloadStart + payloadLength)` are the payload bytes.
 */
export class LazyPublishPacket implements PublishPacket {
  readonly type: typeof PacketType.Publish = PacketType.Publish;
  readonly dup: boolean;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly topic: string;
  readonly packetId: number;
  readonly properties: Properties;
  readonly payloadSource: Buffer;
  readonly payloadStart: number;
  readonly payloadLength: number;
  #payload: Buffer | null = null;

  constructor(
    dup: boolean,
    qos: QoS,
    retain: boolean,
    topic: string,
    packetId: number,
    properties: Properties,
    payloadSource: Buffer,
    payloadStart: number,
    payloadLength: number,
  ) {
    this.dup = dup;
    this.qos = qos;
    this.retain = retain;
    this.topic = topic;
    this.packetId = packetId;
    this.properties = properties;
    this.payloadSource = payloadSource;
    this.payloadStart = payloadStart;
    this.payloadLength = payloadLength;
  }

  get payload(): Buffer {
    return (this.#payload ??= viewOf(this.payloadSource, this.payloadStart, this.payloadLength));
  }
}

/**
 * The hot path: a QoS 0/1 PUBLISH without properties allocates the packet and two views
 * (just the packet when `lazy`, see LazyPublishPacket).
 */
export function decodePublish(
  reader: PacketReader,
  flags: number,
  version: ProtocolVersion,
  serverSide: boolean,
  lazy = false,
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
  if (lazy) {
    const start = reader.pos;
    reader.pos = reader.end;
    return new LazyPublishPacket(
      (flags & 0x08) !== 0,
      qos,
      (flags & 0x01) !== 0,
      topic,
      packetId,
      properties,
      reader.buf,
      start,
      reader.end - start,
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
  const group = parseSharedFilter(filter)?.group ?? '';
  // [MQTT-4.8.2-1] a non-empty share name; [MQTT-4.8.2-2] without wildcards; §4.8.2 a filter.
  const ref =
    group.length === 0
      ? 'MQTT-4.8.2-1'
      : group.includes('+') || group.includes('#')
        ? 'MQTT-4.8.2-2'
        : 'MQTT-4.8.2';
  return new MqttError(ReasonCode.ProtocolError, `invalid shared subscription "${filter}"`, ref);
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
      // 3.1.1 [MQTT-3.8.3-4]: reserved bits or QoS 3; 5.0 §3.8.3.1: Maximum QoS 3.
      const ref = version === ProtocolVersion.V5 ? 'MQTT-3.8.3.1' : 'MQTT-3.8.3-4';
      throw new MqttError(ReasonCode.MalformedPacket, `requested QoS ${qos}`, ref);
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
