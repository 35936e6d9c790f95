/**
 * Encoder behaviour beyond the golden vectors: PUBLISH forms for fan-out and their
 * patching, the topic cache (hits, misses, many topics), property order, and the
 * programmer errors that throw.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import type { QoS } from '../../src/protocol/constants.ts';
import {
  encodePacket,
  encodePublishForm,
  setDup,
  setPacketId,
} from '../../src/protocol/encoder.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import type { Packet, Properties, PublishPacket } from '../../src/protocol/packets.ts';
import { decodeOne } from './codec-helpers.ts';

function publish(fields: Partial<PublishPacket>): PublishPacket {
  return {
    type: PacketType.Publish,
    dup: false,
    qos: 0,
    retain: false,
    topic: 'a/b',
    packetId: 0,
    payload: Buffer.from('hello'),
    properties: EMPTY_PROPERTIES,
    ...fields,
  };
}

describe('PUBLISH forms', () => {
  for (const version of [ProtocolVersion.V311, ProtocolVersion.V5]) {
    for (const qos of [0, 1, 2] as QoS[]) {
      for (const payloadLength of [5, 200]) {
        test(`v${version} QoS ${qos}, ${payloadLength}-byte payload: patched form = encodePacket`, () => {
          const properties: Properties =
            version === ProtocolVersion.V5
              ? { messageExpiryInterval: 9, subscriptionIdentifiers: [3] }
              : EMPTY_PROPERTIES;
          const payload = Buffer.alloc(payloadLength, 0x41);
          const form = encodePublishForm('é/topic', payload, qos, true, false, properties, version);
          const base = publish({ topic: 'é/topic', payload, qos, retain: true, properties });
          if (qos === 0) {
            assert.equal(form.packetIdOffset, -1);
            assert.deepEqual(form.bytes, encodePacket(base, version));
            return;
          }
          const bytes = Buffer.from(form.bytes);
          setPacketId(bytes, form.packetIdOffset, 0xbeef);
          assert.deepEqual(bytes, encodePacket({ ...base, packetId: 0xbeef }, version));
          setDup(bytes);
          assert.deepEqual(bytes, encodePacket({ ...base, packetId: 0xbeef, dup: true }, version));
          assert.deepEqual(decodeOne(bytes, { protocolVersion: version }), {
            ...base,
            packetId: 0xbeef,
            dup: true,
          });
        });
      }
    }
  }
});

describe('topic cache', () => {
  test('repeated, alternating and many distinct topics all encode correctly', () => {
    const topics = [
      'a',
      'b',
      'a',
      'é',
      'a',
      ...Array.from({ length: 40_000 }, (_, i) => `t/${i % 5000}/x`),
      'a',
    ];
    for (const topic of topics) {
      const bytes = encodePacket(publish({ topic }), ProtocolVersion.V311);
      const decoded = decodeOne(bytes);
      assert.equal(decoded.type === PacketType.Publish && decoded.topic, topic);
    }
  });
  test('long topics bypass the cache', () => {
    const topic = 'x/'.repeat(300) + 'y';
    const bytes = encodePacket(publish({ topic }), ProtocolVersion.V311);
    assert.equal(bytes.readUInt16BE(3), topic.length);
    assert.equal(bytes.toString('latin1', 5, 5 + topic.length), topic);
  });
  test('encoded packets never share memory with the cache', () => {
    const first = encodePacket(publish({ topic: 'shared/topic' }), ProtocolVersion.V311);
    first.fill(0);
    const second = encodePacket(publish({ topic: 'shared/topic' }), ProtocolVersion.V311);
    assert.equal(second.toString('latin1', 4, 16), 'shared/topic');
  });
});

describe('properties', () => {
  test('are written in the key order of the object', () => {
    const a = encodePacket(
      {
        type: PacketType.Connack,
        sessionPresent: false,
        reasonCode: 0,
        properties: { topicAliasMaximum: 10, receiveMaximum: 20 },
      },
      ProtocolVersion.V5,
    );
    const b = encodePacket(
      {
        type: PacketType.Connack,
        sessionPresent: false,
        reasonCode: 0,
        properties: { receiveMaximum: 20, topicAliasMaximum: 10 },
      },
      ProtocolVersion.V5,
    );
    assert.equal(a.toString('hex'), '200900000622000a210014');
    assert.equal(b.toString('hex'), '2009000006210014' + '22000a');
  });
  test('are not written before MQTT 5', () => {
    const bytes = encodePacket(publish({ properties: { contentType: 'x' } }), ProtocolVersion.V311);
    assert.equal(bytes.toString('hex'), '300a0003612f6268656c6c6f');
  });
  test('undefined values are skipped', () => {
    const properties = { reasonString: undefined } as unknown as Properties;
    const bytes = encodePacket(
      { type: PacketType.Puback, packetId: 1, reasonCode: 0, properties },
      ProtocolVersion.V5,
    );
    assert.equal(bytes.toString('hex'), '40020001');
  });
});

describe('programmer errors', () => {
  const v5 = ProtocolVersion.V5;
  const cases: [string, () => Packet, new (...args: never[]) => Error][] = [
    ['topic over 65535 bytes', () => publish({ topic: 'a'.repeat(65_536) }), RangeError],
    ['QoS 3', () => publish({ qos: 3 as QoS, packetId: 1 }), RangeError],
    ['packet identifier 65536', () => publish({ qos: 1, packetId: 65_536 }), RangeError],
    [
      'unknown property',
      () => publish({ properties: { bogus: 1 } as unknown as Properties }),
      TypeError,
    ],
    [
      'u16 property out of range',
      () => publish({ properties: { topicAlias: 70_000 } }),
      RangeError,
    ],
    [
      'user property value over 65535 bytes',
      () => publish({ properties: { userProperties: [['k', 'v'.repeat(65_536)]] } }),
      RangeError,
    ],
    [
      'client identifier over 65535 bytes',
      () => ({
        type: PacketType.Connect,
        protocolName: 'MQTT',
        protocolVersion: ProtocolVersion.V311,
        isBridge: false,
        cleanStart: true,
        keepalive: 0,
        clientId: 'c'.repeat(65_536),
        will: null,
        username: null,
        password: null,
        properties: EMPTY_PROPERTIES,
      }),
      RangeError,
    ],
    [
      'reason code 256',
      () => ({ type: PacketType.Disconnect, reasonCode: 256, properties: EMPTY_PROPERTIES }),
      RangeError,
    ],
    ['unknown packet type', () => ({ type: 0 }) as unknown as Packet, TypeError],
  ];
  for (const [name, make, errorType] of cases) {
    test(name, () => {
      assert.throws(() => encodePacket(make(), v5), errorType);
    });
  }
});
