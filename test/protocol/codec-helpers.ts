/**
 * Small helpers shared by the codec tests: hex notation for byte vectors, decoding a
 * whole byte string, and asserting the MqttError a decoder throws.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import type { FrameDecoderOptions } from '../../src/protocol/decoder.ts';
import { MqttError } from '../../src/protocol/errors.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { encodeVarint } from '../../src/protocol/primitives.ts';
import type { ProtocolVersion } from '../../src/protocol/constants.ts';
import type { Packet } from '../../src/protocol/packets.ts';

/** "10 0c 00" -> bytes; spaces and line breaks are ignored. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/** Decodes every packet of `bytes` pushed as one chunk; fails if bytes are left over. */
export function decodeAll(bytes: Buffer, options: FrameDecoderOptions = {}): Packet[] {
  const decoder = new FrameDecoder(options);
  decoder.push(bytes);
  const packets: Packet[] = [];
  for (let p = decoder.next(); p !== null; p = decoder.next()) packets.push(p);
  assert.equal(decoder.bufferedBytes, 0, 'bytes left after the last packet');
  return packets;
}

/** Decodes exactly one packet. */
export function decodeOne(bytes: Buffer, options: FrameDecoderOptions = {}): Packet {
  const packets = decodeAll(bytes, options);
  assert.equal(packets.length, 1, `expected one packet, got ${packets.length}`);
  return packets[0]!;
}

/** The MqttError that decoding `bytes` throws (fails if there is none, or another). */
export function decodeError(bytes: Buffer, options: FrameDecoderOptions = {}): MqttError {
  const decoder = new FrameDecoder(options);
  decoder.push(bytes);
  try {
    while (decoder.next() !== null) {
      /* keep decoding until the error */
    }
  } catch (e) {
    assert.ok(e instanceof MqttError, `expected an MqttError, got ${String(e)}`);
    return e;
  }
  assert.fail(`no error decoding ${bytes.toString('hex')}`);
}

/** Asserts that decoding `bytes` fails with this reason code and spec reference. */
export function assertDecodeError(
  bytes: Buffer,
  reasonCode: number,
  specRef: string,
  options: FrameDecoderOptions = {},
): MqttError {
  const error = decodeError(bytes, options);
  assert.equal(
    error.reasonCode,
    reasonCode,
    `reason 0x${error.reasonCode.toString(16)} (${error.message}), expected 0x${reasonCode.toString(16)}`,
  );
  assert.equal(error.specRef, specRef, `spec ref of "${error.message}"`);
  return error;
}

/**
 * A golden vector: `bytes` decodes to `packet` (deep equality) and `packet` encodes to
 * `bytes` (exact). `decodeOnly` skips the encoding half, for inputs the encoder never
 * produces in that form.
 */
export interface Golden {
  readonly name: string;
  readonly bytes: string;
  readonly packet: Packet;
  readonly decodeOnly?: boolean;
  readonly options?: FrameDecoderOptions;
}

export function checkGolden(g: Golden, version: ProtocolVersion): void {
  const bytes = hex(g.bytes);
  const decoded = decodeOne(bytes, { protocolVersion: version, ...g.options });
  assert.deepStrictEqual(decoded, g.packet, `${g.name}: decoded packet`);
  if (g.decodeOnly !== true) {
    assert.equal(
      encodePacket(g.packet, version).toString('hex'),
      bytes.toString('hex'),
      `${g.name}: encoded bytes`,
    );
  }
}

/** A length-prefixed MQTT string (or binary) field. */
export function field(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(bytes.length);
  return Buffer.concat([prefix, bytes]);
}

/**
 * A packet from its first byte and body parts (hex text or Buffers); the remaining
 * length is computed, so tests only spell out what they are about.
 */
export function frame(byte0: number, ...parts: (string | Buffer)[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? hex(p) : p)));
  return Buffer.concat([Buffer.from([byte0]), encodeVarint(body.length), body]);
}
