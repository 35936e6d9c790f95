/**
 * Packets to bytes. Each encoder computes the exact size first, allocates one Buffer and
 * fills it. Invalid input that a caller could only produce by mistake (a string over
 * 65535 bytes, a QoS of 3, a packet identifier over 65535) throws a RangeError or
 * TypeError; everything else is written as given, so tests can build odd packets.
 *
 * Byte forms follow Mosquitto's senders: a v5 acknowledgement or DISCONNECT omits the
 * reason code when it is 0 and there are no properties, and omits the property length
 * when there are no properties.
 */
import { Buffer } from 'node:buffer';
import { MAX_VARIABLE_BYTE_INTEGER, PacketType, ProtocolVersion } from './constants.ts';
import type { QoS } from './constants.ts';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from './packets.ts';
import { propertiesLength, writeProperties } from './properties.ts';
import {
  assertUint,
  binaryFieldLength,
  stringFieldLength,
  varintLength,
  writeBinary,
  writeString,
  writeU16,
  writeVarint,
} from './primitives.ts';

/** Allocates a packet of remaining length `rl` and writes its fixed header. */
function allocPacket(byte0: number, rl: number): Buffer {
  if (rl > MAX_VARIABLE_BYTE_INTEGER) {
    throw new RangeError(`packet of ${rl} bytes exceeds the MQTT maximum of 268435455`);
  }
  const buf = Buffer.allocUnsafe(1 + varintLength(rl) + rl);
  buf[0] = byte0;
  writeVarint(buf, 1, rl);
  return buf;
}

/** Size of a property block including its length prefix. */
function blockLength(propsLength: number): number {
  return varintLength(propsLength) + propsLength;
}

function assertQoS(qos: number): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`QoS ${qos} is not 0, 1 or 2`);
}

function assertPacketId(id: number): void {
  if (!(id >= 0 && id <= 0xffff && (id | 0) === id)) {
    throw new RangeError(`packet identifier ${id} is out of range 0..65535`);
  }
}

/** Encodes any packet for a connection speaking `version` (CONNECT uses its own). */
export function encodePacket(packet: Packet, version: ProtocolVersion): Buffer {
  switch (packet.type) {
    case PacketType.Publish:
      return encodePublish(packet, version);
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubcomp:
      return encodeAck(
        packet.type << 4,
        packet.packetId,
        packet.reasonCode,
        packet.properties,
        version,
      );
    case PacketType.Pubrel:
      return encodeAck(0x62, packet.packetId, packet.reasonCode, packet.properties, version);
    case PacketType.Connect:
      return encodeConnect(packet);
    case PacketType.Connack:
      return encodeConnack(packet, version);
    case PacketType.Subscribe:
      return encodeSubscribe(packet, version);
    case PacketType.Suback:
      return encodeSuback(packet, version);
    case PacketType.Unsubscribe:
      return encodeUnsubscribe(packet, version);
    case PacketType.Unsuback:
      return encodeUnsuback(packet, version);
    case PacketType.Pingreq:
      return allocPacket(0xc0, 0);
    case PacketType.Pingresp:
      return allocPacket(0xd0, 0);
    case PacketType.Disconnect:
      return encodeDisconnect(packet, version);
    case PacketType.Auth:
      return encodeAuth(packet);
    default:
      throw new TypeError(`unknown packet type ${String((packet as { type: unknown }).type)}`);
  }
}

// ---------------------------------------------------------------------------- PUBLISH

/**
 * Encoded topic names (length prefix included) of recent PUBLISHes. Topics usually
 * repeat, and copying cached bytes is about twice as fast as encoding a short string
 * again (a third of the cost of a small PUBLISH). Bounded to TOPIC_CACHE_ENTRIES short
 * topics, stored in shared slabs, and adaptive so that ever-new topics cost little:
 * a window of lookups admits at most TOPIC_CACHE_ADMISSIONS new topics, and when fewer
 * than half of its lookups hit, the cache is bypassed for the next 15 windows.
 */
const topicCache = new Map<string, Buffer>();
const TOPIC_CACHE_ENTRIES = 1024;
const TOPIC_CACHE_MAX_BYTES = 254;
const TOPIC_CACHE_WINDOW = 1024;
const TOPIC_CACHE_ADMISSIONS = 64;
const TOPIC_SLAB_BYTES = 16 * 1024;
let topicCacheBypass = 0;
let topicCacheLookups = 0;
let topicCacheHits = 0;
let topicCacheAdmissions = 0;
let topicSlab = Buffer.alloc(0);
let topicSlabUsed = 0;

function encodedTopic(topic: string): Buffer | undefined {
  if (topicCacheBypass > 0) {
    topicCacheBypass--;
    return undefined;
  }
  if (topic.length > TOPIC_CACHE_MAX_BYTES) return undefined;
  if (++topicCacheLookups === TOPIC_CACHE_WINDOW) {
    if (topicCacheHits < TOPIC_CACHE_WINDOW / 2) topicCacheBypass = 15 * TOPIC_CACHE_WINDOW;
    topicCacheLookups = 0;
    topicCacheHits = 0;
    topicCacheAdmissions = 0;
  }
  const cached = topicCache.get(topic);
  if (cached !== undefined) {
    topicCacheHits++;
    return cached;
  }
  if (topicCacheAdmissions === TOPIC_CACHE_ADMISSIONS) return undefined;
  topicCacheAdmissions++;
  const length = Buffer.byteLength(topic, 'utf8');
  if (length > TOPIC_CACHE_MAX_BYTES) return undefined;
  if (topicCache.size >= TOPIC_CACHE_ENTRIES) topicCache.clear();
  if (topicSlabUsed + 2 + length > topicSlab.length) {
    topicSlab = Buffer.allocUnsafeSlow(TOPIC_SLAB_BYTES);
    topicSlabUsed = 0;
  }
  const bytes = topicSlab.subarray(topicSlabUsed, topicSlabUsed + 2 + length);
  topicSlabUsed += 2 + length;
  writeString(bytes, 0, topic, length);
  topicCache.set(topic, bytes);
  return bytes;
}

function writePublish(
  topic: string,
  payload: Uint8Array,
  qos: QoS,
  retain: boolean,
  dup: boolean,
  packetId: number,
  properties: Properties,
  version: ProtocolVersion,
): Buffer {
  const cached = encodedTopic(topic);
  const topicLength = cached !== undefined ? cached.length - 2 : Buffer.byteLength(topic, 'utf8');
  if (topicLength > 0xffff)
    throw new RangeError(`topic is ${topicLength} bytes; MQTT allows 65535`);
  assertQoS(qos);
  let rl = 2 + topicLength + payload.length;
  if (qos > 0) rl += 2;
  let propsLength = 0;
  const v5 = version === ProtocolVersion.V5;
  if (v5) {
    propsLength = propertiesLength(properties);
    rl += blockLength(propsLength);
  }
  const buf = allocPacket(0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0), rl);
  let pos = rl < 128 ? 2 : 1 + varintLength(rl);
  if (cached !== undefined) {
    buf.set(cached, pos);
    pos += cached.length;
  } else {
    pos = writeString(buf, pos, topic, topicLength);
  }
  if (qos > 0) {
    buf[pos] = packetId >>> 8;
    buf[pos + 1] = packetId & 0xff;
    pos += 2;
  }
  if (v5) pos = writeProperties(buf, pos, properties, propsLength);
  buf.set(payload, pos);
  return buf;
}

function encodePublish(p: PublishPacket, version: ProtocolVersion): Buffer {
  assertPacketId(p.packetId);
  return writePublish(
    p.topic,
    p.payload,
    p.qos,
    p.retain,
    p.dup,
    p.packetId,
    p.properties,
    version,
  );
}

/** One PUBLISH form for fan-out: the same bytes go to every recipient of this form. */
export interface PublishForm {
  readonly bytes: Buffer;
  /** Where setPacketId writes; -1 for QoS 0 (no packet identifier). */
  readonly packetIdOffset: number;
}

/**
 * Encodes a PUBLISH once, with packet identifier 0, for many recipients. Copy the
 * bytes (Buffer.from) before patching them with setPacketId/setDup if the same form
 * may still be queued for another recipient.
 */
export function encodePublishForm(
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  dup: boolean,
  properties: Properties,
  version: ProtocolVersion,
): PublishForm {
  const bytes = writePublish(topic, payload, qos, retain, dup, 0, properties, version);
  let packetIdOffset = -1;
  if (qos > 0) {
    let headerLength = 2;
    while ((bytes[headerLength - 1] as number) >= 0x80) headerLength++;
    const topicLength =
      ((bytes[headerLength] as number) << 8) | (bytes[headerLength + 1] as number);
    packetIdOffset = headerLength + 2 + topicLength;
  }
  return { bytes, packetIdOffset };
}

/** Writes a packet identifier at `offset` (a PublishForm's packetIdOffset). */
export function setPacketId(bytes: Buffer, offset: number, packetId: number): void {
  bytes[offset] = packetId >>> 8;
  bytes[offset + 1] = packetId & 0xff;
}

/** Sets the DUP flag of a PUBLISH (a redelivery). */
export function setDup(bytes: Buffer): void {
  bytes[0] = (bytes[0] as number) | 0x08;
}

// ---------------------------------------------------------------------------- CONNECT

function encodeConnect(p: ConnectPacket): Buffer {
  const version = p.protocolVersion;
  const v5 = version === ProtocolVersion.V5;
  const nameLength = stringFieldLength(p.protocolName, 'protocol name');
  const clientIdLength = stringFieldLength(p.clientId, 'client identifier');
  assertUint(p.keepalive, 0xffff, 'keepalive');
  let rl = 2 + nameLength + 1 + 1 + 2 + 2 + clientIdLength;
  let propsLength = 0;
  if (v5) {
    propsLength = propertiesLength(p.properties);
    rl += blockLength(propsLength);
  }
  let flags = p.cleanStart ? 0x02 : 0;
  const will = p.will;
  let willPropsLength = 0;
  let willTopicLength = 0;
  if (will !== null) {
    assertQoS(will.qos);
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
    willTopicLength = stringFieldLength(will.topic, 'will topic');
    rl += 2 + willTopicLength + 2 + binaryFieldLength(will.payload, 'will payload');
    if (v5) {
      willPropsLength = propertiesLength(will.properties);
      rl += blockLength(willPropsLength);
    }
  }
  let usernameLength = 0;
  if (p.username !== null) {
    flags |= 0x80;
    usernameLength = stringFieldLength(p.username, 'user name');
    rl += 2 + usernameLength;
  }
  if (p.password !== null) {
    flags |= 0x40;
    rl += 2 + binaryFieldLength(p.password, 'password');
  }

  const buf = allocPacket(0x10, rl);
  let pos = writeString(buf, 1 + varintLength(rl), p.protocolName, nameLength);
  buf[pos++] = version | (p.isBridge ? 0x80 : 0);
  buf[pos++] = flags;
  pos = writeU16(buf, pos, p.keepalive);
  if (v5) pos = writeProperties(buf, pos, p.properties, propsLength);
  pos = writeString(buf, pos, p.clientId, clientIdLength);
  if (will !== null) {
    if (v5) pos = writeProperties(buf, pos, will.properties, willPropsLength);
    pos = writeString(buf, pos, will.topic, willTopicLength);
    pos = writeBinary(buf, pos, will.payload);
  }
  if (p.username !== null) pos = writeString(buf, pos, p.username, usernameLength);
  if (p.password !== null) writeBinary(buf, pos, p.password);
  return buf;
}

// ---------------------------------------------------------------- acknowledgements

function encodeConnack(p: ConnackPacket, version: ProtocolVersion): Buffer {
  assertUint(p.reasonCode, 0xff, 'reason code');
  const v5 = version === ProtocolVersion.V5;
  const propsLength = v5 ? propertiesLength(p.properties) : 0;
  const rl = 2 + (v5 ? blockLength(propsLength) : 0);
  const buf = allocPacket(0x20, rl);
  const h = 1 + varintLength(rl);
  buf[h] = p.sessionPresent ? 1 : 0;
  buf[h + 1] = p.reasonCode;
  if (v5) writeProperties(buf, h + 2, p.properties, propsLength);
  return buf;
}

function encodeAck(
  byte0: number,
  packetId: number,
  reasonCode: number,
  properties: Properties,
  version: ProtocolVersion,
): Buffer {
  assertUint(packetId, 0xffff, 'packet identifier');
  if (version !== ProtocolVersion.V5) {
    const buf = allocPacket(byte0, 2);
    writeU16(buf, 2, packetId);
    return buf;
  }
  assertUint(reasonCode, 0xff, 'reason code');
  const propsLength = propertiesLength(properties);
  let rl = 2;
  if (reasonCode !== 0 || propsLength > 0) rl += 1;
  if (propsLength > 0) rl += blockLength(propsLength);
  const buf = allocPacket(byte0, rl);
  const h = 1 + varintLength(rl);
  writeU16(buf, h, packetId);
  if (rl > 2) buf[h + 2] = reasonCode;
  if (propsLength > 0) writeProperties(buf, h + 3, properties, propsLength);
  return buf;
}

function encodeSuback(p: SubackPacket, version: ProtocolVersion): Buffer {
  assertUint(p.packetId, 0xffff, 'packet identifier');
  const v5 = version === ProtocolVersion.V5;
  const propsLength = v5 ? propertiesLength(p.properties) : 0;
  const codes = p.reasonCodes;
  const rl = 2 + (v5 ? blockLength(propsLength) : 0) + codes.length;
  const buf = allocPacket(0x90, rl);
  let pos = writeU16(buf, 1 + varintLength(rl), p.packetId);
  if (v5) pos = writeProperties(buf, pos, p.properties, propsLength);
  for (const code of codes) {
    assertUint(code, 0xff, 'reason code');
    buf[pos++] = code;
  }
  return buf;
}

function encodeUnsuback(p: UnsubackPacket, version: ProtocolVersion): Buffer {
  assertUint(p.packetId, 0xffff, 'packet identifier');
  if (version !== ProtocolVersion.V5) {
    const buf = allocPacket(0xb0, 2);
    writeU16(buf, 2, p.packetId);
    return buf;
  }
  const propsLength = propertiesLength(p.properties);
  const codes = p.reasonCodes;
  const rl = 2 + blockLength(propsLength) + codes.length;
  const buf = allocPacket(0xb0, rl);
  let pos = writeU16(buf, 1 + varintLength(rl), p.packetId);
  pos = writeProperties(buf, pos, p.properties, propsLength);
  for (const code of codes) {
    assertUint(code, 0xff, 'reason code');
    buf[pos++] = code;
  }
  return buf;
}

// -------------------------------------------------------------- SUBSCRIBE, UNSUBSCRIBE

function encodeSubscribe(p: SubscribePacket, version: ProtocolVersion): Buffer {
  assertUint(p.packetId, 0xffff, 'packet identifier');
  const v5 = version === ProtocolVersion.V5;
  const propsLength = v5 ? propertiesLength(p.properties) : 0;
  const lengths: number[] = [];
  let rl = 2 + (v5 ? blockLength(propsLength) : 0);
  for (const s of p.subscriptions) {
    const n = stringFieldLength(s.topicFilter, 'topic filter');
    lengths.push(n);
    rl += 3 + n;
  }
  const buf = allocPacket(0x82, rl);
  let pos = writeU16(buf, 1 + varintLength(rl), p.packetId);
  if (v5) pos = writeProperties(buf, pos, p.properties, propsLength);
  p.subscriptions.forEach((s, i) => {
    assertQoS(s.qos);
    pos = writeString(buf, pos, s.topicFilter, lengths[i] ?? 0);
    buf[pos++] = v5
      ? s.qos |
        (s.noLocal ? 0x04 : 0) |
        (s.retainAsPublished ? 0x08 : 0) |
        ((s.retainHandling & 0x03) << 4)
      : s.qos;
  });
  return buf;
}

function encodeUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): Buffer {
  assertUint(p.packetId, 0xffff, 'packet identifier');
  const v5 = version === ProtocolVersion.V5;
  const propsLength = v5 ? propertiesLength(p.properties) : 0;
  const lengths = p.topicFilters.map((f) => stringFieldLength(f, 'topic filter'));
  let rl = 2 + (v5 ? blockLength(propsLength) : 0);
  for (const n of lengths) rl += 2 + n;
  const buf = allocPacket(0xa2, rl);
  let pos = writeU16(buf, 1 + varintLength(rl), p.packetId);
  if (v5) pos = writeProperties(buf, pos, p.properties, propsLength);
  p.topicFilters.forEach((f, i) => {
    pos = writeString(buf, pos, f, lengths[i] ?? 0);
  });
  return buf;
}

// ------------------------------------------------------------------ DISCONNECT, AUTH

function encodeDisconnect(p: DisconnectPacket, version: ProtocolVersion): Buffer {
  if (version !== ProtocolVersion.V5) return allocPacket(0xe0, 0);
  assertUint(p.reasonCode, 0xff, 'reason code');
  const propsLength = propertiesLength(p.properties);
  if (p.reasonCode === 0 && propsLength === 0) return allocPacket(0xe0, 0);
  const rl = 1 + (propsLength > 0 ? blockLength(propsLength) : 0);
  const buf = allocPacket(0xe0, rl);
  const h = 1 + varintLength(rl);
  buf[h] = p.reasonCode;
  if (propsLength > 0) writeProperties(buf, h + 1, p.properties, propsLength);
  return buf;
}

function encodeAuth(p: AuthPacket): Buffer {
  assertUint(p.reasonCode, 0xff, 'reason code');
  const propsLength = propertiesLength(p.properties);
  if (p.reasonCode === 0 && propsLength === 0) return allocPacket(0xf0, 0);
  const rl = 1 + blockLength(propsLength);
  const buf = allocPacket(0xf0, rl);
  const h = 1 + varintLength(rl);
  buf[h] = p.reasonCode;
  writeProperties(buf, h + 1, p.properties, propsLength);
  return buf;
}
