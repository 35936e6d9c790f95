/**
 * Wire primitives: the Variable Byte Integer examples of spec §1.5.5 (as encoded values
 * and as remaining lengths of real packets), and Mosquitto's UTF-8 rules.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion, ReasonCode } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { MqttError } from '../../src/protocol/errors.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import type { PublishPacket } from '../../src/protocol/packets.ts';
import {
  checkMqttString,
  checkMqttUtf8,
  encodeVarint,
  Utf8Problem,
  varintLength,
} from '../../src/protocol/primitives.ts';
import { decodeOne, hex } from './codec-helpers.ts';

// Spec §1.5.5, table 1-1 boundaries.
const VARINTS: [number, string][] = [
  [0, '00'],
  [127, '7f'],
  [128, '80 01'],
  [16_383, 'ff 7f'],
  [16_384, '80 80 01'],
  [2_097_151, 'ff ff 7f'],
  [2_097_152, '80 80 80 01'],
  [268_435_455, 'ff ff ff 7f'],
];

describe('Variable Byte Integer', () => {
  for (const [value, bytes] of VARINTS) {
    test(`${value} <-> ${bytes}`, () => {
      assert.equal(encodeVarint(value).toString('hex'), hex(bytes).toString('hex'));
      assert.equal(varintLength(value), hex(bytes).length);
    });
  }
  test('values outside 0..268435455 are programmer errors', () => {
    assert.throws(() => encodeVarint(268_435_456), RangeError);
    assert.throws(() => encodeVarint(-1), RangeError);
    assert.throws(() => encodeVarint(1.5), RangeError);
  });

  // As remaining lengths: a PUBLISH to "t" (3 bytes of topic) with a payload filling it.
  const publish = (remainingLength: number): PublishPacket => ({
    type: PacketType.Publish,
    dup: false,
    qos: 0,
    retain: false,
    topic: 't',
    packetId: 0,
    payload: Buffer.alloc(remainingLength - 3, 0x2a),
    properties: EMPTY_PROPERTIES,
  });
  for (const [value, bytes] of VARINTS.filter(([v]) => v >= 3 && v <= 2_097_152)) {
    test(`remaining length ${value} is written and read as ${bytes}`, () => {
      const packet = publish(value);
      const encoded = encodePacket(packet, ProtocolVersion.V311);
      const header = hex('30 ' + bytes);
      assert.equal(encoded.subarray(0, header.length).toString('hex'), header.toString('hex'));
      assert.equal(encoded.length, header.length + value);
      assert.deepStrictEqual(decodeOne(encoded), packet);
    });
  }
  test('remaining length 268435455 is read from ff ff ff 7f', () => {
    const decoder = new FrameDecoder({ maximumPacketSize: 1000 });
    decoder.push(hex('30 ff ff ff 7f'));
    assert.throws(
      () => decoder.next(),
      (e: unknown) =>
        e instanceof MqttError &&
        e.reasonCode === ReasonCode.PacketTooLarge &&
        e.message.includes('268435460 bytes'),
    );
  });
  test('an overlong remaining length is accepted, as Mosquitto does', () => {
    assert.equal(decodeOne(hex('c0 80 00')).type, PacketType.Pingreq);
  });
  test('a packet over 268435455 bytes cannot be encoded', () => {
    const huge = { ...publish(3), payload: Buffer.alloc(0) };
    Object.defineProperty(huge.payload, 'length', { value: 268_435_453 });
    assert.throws(() => encodePacket(huge, ProtocolVersion.V311), RangeError);
  });
});

describe('MQTT UTF-8 strings (Mosquitto rules)', () => {
  const ok = ['', 'a', 'hello world', 'é', '€', '😀', '\u00a0', '\ufffd', '\ud7ff', '\ue000'];
  const bad: [string, string, Utf8Problem][] = [
    ['NUL', '00', Utf8Problem.Null],
    ['U+0001', '01', Utf8Problem.Disallowed],
    ['U+001F', '1f', Utf8Problem.Disallowed],
    ['U+007F', '7f', Utf8Problem.Disallowed],
    ['U+0080', 'c2 80', Utf8Problem.Disallowed],
    ['U+009F', 'c2 9f', Utf8Problem.Disallowed],
    ['U+FDD0', 'ef b7 90', Utf8Problem.Disallowed],
    ['U+FDEF', 'ef b7 af', Utf8Problem.Disallowed],
    ['U+FFFE', 'ef bf be', Utf8Problem.Disallowed],
    ['U+FFFF', 'ef bf bf', Utf8Problem.Disallowed],
    ['U+1FFFE', 'f0 9f bf be', Utf8Problem.Disallowed],
    ['U+10FFFF', 'f4 8f bf bf', Utf8Problem.Disallowed],
    ['overlong 2-byte (C0)', 'c0 80', Utf8Problem.IllFormed],
    ['overlong 2-byte (C1)', 'c1 bf', Utf8Problem.IllFormed],
    ['overlong 3-byte', 'e0 9f bf', Utf8Problem.IllFormed],
    ['overlong 4-byte', 'f0 8f bf bf', Utf8Problem.IllFormed],
    ['high surrogate', 'ed a0 80', Utf8Problem.IllFormed],
    ['low surrogate', 'ed bf bf', Utf8Problem.IllFormed],
    ['above U+10FFFF', 'f4 90 80 80', Utf8Problem.IllFormed],
    ['F5 lead byte', 'f5 80 80 80', Utf8Problem.IllFormed],
    ['FF byte', 'ff', Utf8Problem.IllFormed],
    ['lone continuation', '80', Utf8Problem.IllFormed],
    ['truncated 2-byte', 'c3', Utf8Problem.IllFormed],
    ['truncated 4-byte', 'f0 9f 98', Utf8Problem.IllFormed],
    ['bad continuation', 'e2 28 a1', Utf8Problem.IllFormed],
  ];
  for (const s of ok) {
    test(`accepts ${JSON.stringify(s)}`, () => {
      const bytes = Buffer.from(s, 'utf8');
      assert.equal(checkMqttUtf8(bytes, 0, bytes.length), Utf8Problem.None);
      assert.equal(checkMqttString(s), Utf8Problem.None);
    });
  }
  for (const [name, bytes, problem] of bad) {
    test(`refuses ${name}`, () => {
      // Surrounded by other bytes, which must not be read.
      const buf = Buffer.concat([hex('61'), hex(bytes), hex('c3')]);
      assert.equal(checkMqttUtf8(buf, 1, buf.length - 1), problem);
    });
  }
  test('JavaScript strings follow the same rules', () => {
    assert.equal(checkMqttString('a\u0000'), Utf8Problem.Null);
    assert.equal(checkMqttString('a\tb'), Utf8Problem.Disallowed);
    assert.equal(checkMqttString('\u0085'), Utf8Problem.Disallowed);
    assert.equal(checkMqttString('\ufdd0'), Utf8Problem.Disallowed);
    assert.equal(checkMqttString('\uffff'), Utf8Problem.Disallowed);
    assert.equal(checkMqttString('\ud83f\udfff'), Utf8Problem.Disallowed); // U+1FFFF
    assert.equal(checkMqttString('\ud800'), Utf8Problem.IllFormed);
    assert.equal(checkMqttString('\udc00a'), Utf8Problem.IllFormed);
    assert.equal(checkMqttString('\ud83d\ude00'), Utf8Problem.None);
  });
});
