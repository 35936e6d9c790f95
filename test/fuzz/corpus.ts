/**
 * The fuzzer's seed corpus: real packets of every type and protocol version, encoded
 * both by our encoder and by mqtt-packet (so mutations start from two encoders' ideas
 * of a packet), plus a few hand-written edge packets. Each seed is kept as a frame
 * (header byte + body) with the offsets of its MQTT 5 property-length fields, so the
 * fuzzer can rewrite remaining lengths and property lengths structurally.
 * Deterministic: the same seed gives the same corpus.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { ALL_VERSIONS, packetOfTypeArbitrary, packetTypesOf } from '../helpers/arbitraries.ts';
import {
  generateWithMqttPacket,
  toMqttPacket,
} from '../protocol/differential/mqtt-packet-mapping.ts';

export interface SeedFrame {
  /** Fixed-header byte 1 (type and flags). */
  readonly header: number;
  /** Everything after the remaining-length field. */
  readonly body: Uint8Array;
  /** Offsets in `body` of MQTT 5 property-length fields (CONNECT has two with a will). */
  readonly propertyLengthOffsets: readonly number[];
  readonly version: ProtocolVersion;
  readonly type: PacketType;
  readonly origin: 'ours' | 'mqtt-packet' | 'handmade';
}

/** Reads a Variable Byte Integer; null when it is malformed or runs past `end`. */
export function readVarint(
  bytes: Uint8Array,
  offset: number,
  end = bytes.length,
): { value: number; length: number } | null {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 4; i++) {
    if (offset + i >= end) return null;
    const b = bytes[offset + i]!;
    value += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return { value, length: i + 1 };
    multiplier *= 128;
  }
  return null;
}

/** Minimal Variable Byte Integer encoding (value <= 268,435,455). */
export function encodeVarint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) b |= 0x80;
    out.push(b);
  } while (rest > 0);
  return out;
}

function u16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

/** Offsets of the property-length fields of a valid MQTT 5 packet body. */
export function propertyLengthOffsets(
  type: PacketType,
  version: ProtocolVersion,
  flags: number,
  body: Uint8Array,
): number[] {
  const isV5 =
    type === PacketType.Connect ? body[2 + u16(body, 0)] === ProtocolVersion.V5 : version === 5;
  if (!isV5) return [];
  switch (type) {
    case PacketType.Connect: {
      const nameEnd = 2 + u16(body, 0);
      const connectFlags = body[nameEnd + 1]!;
      const props = nameEnd + 4;
      const out = [props];
      const propLen = readVarint(body, props);
      if (propLen === null) return out;
      const clientIdAt = props + propLen.length + propLen.value;
      if ((connectFlags & 0x04) !== 0) out.push(clientIdAt + 2 + u16(body, clientIdAt));
      return out;
    }
    case PacketType.Connack:
      return [2];
    case PacketType.Publish: {
      const qos = (flags >> 1) & 3;
      return [2 + u16(body, 0) + (qos > 0 ? 2 : 0)];
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return body.length >= 4 ? [3] : [];
    case PacketType.Subscribe:
    case PacketType.Suback:
    case PacketType.Unsubscribe:
    case PacketType.Unsuback:
      return [2];
    case PacketType.Disconnect:
    case PacketType.Auth:
      return body.length >= 2 ? [1] : [];
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return [];
  }
}

/** Splits one whole packet into a frame. */
export function frameOf(
  bytes: Uint8Array,
  version: ProtocolVersion,
  origin: SeedFrame['origin'],
): SeedFrame {
  const rl = readVarint(bytes, 1);
  if (rl === null || 1 + rl.length + rl.value !== bytes.length) {
    throw new Error(`not one whole packet: ${Buffer.from(bytes).toString('hex')}`);
  }
  const header = bytes[0]!;
  const type = (header >> 4) as PacketType;
  const body = bytes.slice(1 + rl.length);
  return {
    header,
    body,
    propertyLengthOffsets: propertyLengthOffsets(type, version, header & 0x0f, body),
    version,
    type,
    origin,
  };
}

/** Serializes a frame (optionally with a rewritten remaining-length field). */
export function frameBytes(
  frame: Pick<SeedFrame, 'header' | 'body'>,
  remainingLength?: readonly number[],
): number[] {
  return [frame.header, ...(remainingLength ?? encodeVarint(frame.body.length)), ...frame.body];
}

/** Hand-written packets at the edges of the grammar, all valid. */
const HANDMADE: readonly { version: ProtocolVersion; hex: string }[] = [
  { version: 4, hex: 'c000' }, // PINGREQ
  { version: 4, hex: 'd000' }, // PINGRESP
  { version: 4, hex: 'e000' }, // DISCONNECT
  { version: 5, hex: 'e000' }, // DISCONNECT, reason and properties omitted [MQTT-3.14.2-1]
  { version: 5, hex: 'e00104' }, // DISCONNECT with will, no property length
  { version: 5, hex: '40020001' }, // PUBACK, reason omitted
  { version: 5, hex: '4003000110' }, // PUBACK 0x10, no property length
  { version: 5, hex: '6203000192' }, // PUBREL 0x92
  { version: 4, hex: '3003000161' }, // PUBLISH QoS 0 "a", empty payload
  { version: 5, hex: '3006000003230001' }, // PUBLISH, empty topic, Topic Alias 1
  { version: 3, hex: '100f00064d514973647003020000000161' }, // 3.1 CONNECT
  { version: 4, hex: '100d00044d5154540402003c000161' }, // 3.1.1 CONNECT
  { version: 5, hex: '100e00044d5154540502003c00000161' }, // 5.0 CONNECT
  { version: 4, hex: '20020000' }, // CONNACK
  { version: 5, hex: '2003000000' }, // CONNACK v5
  { version: 4, hex: '8206000100016100' }, // SUBSCRIBE "a" QoS 0
  { version: 5, hex: '900400010000' }, // SUBACK v5 granted 0
  { version: 4, hex: 'a2050001000161' }, // UNSUBSCRIBE "a"
  { version: 4, hex: 'b0020001' }, // UNSUBACK 3.1.1
  { version: 5, hex: 'f000' }, // AUTH, reason and properties omitted [MQTT-3.15.2-1]
  // One mutation away from the $share and Subscription Identifier rules.
  { version: 4, hex: '82110002000c2473686172652f672f612f6201' }, // SUBSCRIBE $share/g/a/b
  { version: 5, hex: '82120003020b05000a2473686172652f672f2302' }, // SUBSCRIBE id 5, $share/g/#
  { version: 5, hex: '3009000161040b010b0241' }, // PUBLISH with Subscription Identifiers 1, 2
  { version: 5, hex: 'a20f000400000a2473686172652f672f61' }, // UNSUBSCRIBE $share/g/a
];

function handmadeFrames(): SeedFrame[] {
  return HANDMADE.map(({ version, hex }) => frameOf(Buffer.from(hex, 'hex'), version, 'handmade'));
}

/**
 * `perTypeAndVersion` random packets of every type of every version, each encoded by
 * our encoder and (where it can) by mqtt-packet, plus the hand-written edge packets.
 */
export function buildSeedCorpus(seed: number, perTypeAndVersion = 4): SeedFrame[] {
  const frames: SeedFrame[] = handmadeFrames();
  let k = 0;
  for (const version of ALL_VERSIONS) {
    for (const type of packetTypesOf(version)) {
      const packets = fc.sample(packetOfTypeArbitrary(version, type), {
        seed: (seed + 7919 * k++) | 0,
        numRuns: perTypeAndVersion,
      });
      for (const packet of packets) {
        frames.push(frameOf(encodePacket(packet, version), version, 'ours'));
        let theirs: Buffer | null = null;
        try {
          theirs = generateWithMqttPacket(toMqttPacket(packet, version), version);
        } catch {
          // mqtt-packet refuses a few valid packets (see the differential tests).
        }
        if (theirs !== null) frames.push(frameOf(theirs, version, 'mqtt-packet'));
      }
    }
  }
  return frames;
}
