/**
 * Where our codec and mqtt-packet 9 knowingly differ, pinned one by one: the same bytes
 * go to both, and each side's verdict is asserted. Each case says whose behaviour is
 * wrong by the MQTT 5 spec (or, where the spec leaves room, what Mosquitto does).
 *
 * mqtt-packet's parser is structural only, so most rows are "mqtt-packet accepts, we
 * refuse" (its leniency, not a bug for a client library). A few are mqtt-packet bugs:
 * it reads a 0-length AUTH as invalid, reads past the end of a short DISCONNECT into
 * the next packet, and loses user properties.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion, ReasonCode } from '../../../src/protocol/constants.ts';
import type { Packet } from '../../../src/protocol/packets.ts';
import { isMqttError } from '../../../src/protocol/errors.ts';
import { FrameDecoder } from '../../../src/protocol/decoder.ts';
import { parseWithMqttPacket } from './mqtt-packet-mapping.ts';

// ---------------------------------------------------------------------------------
// Byte builders (readable test vectors)

function varint(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) b |= 0x80;
    out.push(b);
  } while (rest > 0);
  return out;
}
function str(s: string): number[] {
  const b = Buffer.from(s, 'utf8');
  return [b.length >> 8, b.length & 0xff, ...b];
}
function props(...entries: number[][]): number[] {
  const flat = entries.flat();
  return [...varint(flat.length), ...flat];
}
function packet(byte0: number, body: number[]): Buffer {
  return Buffer.from([byte0, ...varint(body.length), ...body]);
}
function connect(version: ProtocolVersion, flags: number, rest: number[]): Buffer {
  return packet(0x10, [...str(version === 3 ? 'MQIsdp' : 'MQTT'), version, flags, 0, 60, ...rest]);
}

const { V311, V5 } = ProtocolVersion;
const PUBLISH = 0x30;
const USER_PROPERTY = 0x26;

/** All packets our decoder yields for `bytes`, or the MqttError it throws. */
function decodeOurs(bytes: Buffer, version: ProtocolVersion): Packet[] | { reasonCode: number } {
  const decoder = new FrameDecoder({ protocolVersion: version });
  decoder.push(bytes);
  const packets: Packet[] = [];
  try {
    for (let p = decoder.next(); p !== null; p = decoder.next()) packets.push(p);
  } catch (e) {
    if (!isMqttError(e)) throw e;
    return { reasonCode: e.reasonCode };
  }
  return packets;
}

// ---------------------------------------------------------------------------------
// mqtt-packet accepts, we refuse

interface Refused {
  readonly name: string;
  readonly version: ProtocolVersion;
  readonly bytes: Buffer;
  readonly code: number;
}

const { MalformedPacket, ProtocolError, UnsupportedProtocolVersion } = ReasonCode;

/**
 * Packets the MQTT 5 spec (or Mosquitto, where the spec says MAY) rejects and
 * mqtt-packet's structural parser accepts. Not mqtt-packet bugs as such: it leaves
 * semantic checks to its users (MQTT.js, aedes).
 */
const REFUSED_BY_US_ONLY: readonly Refused[] = [
  // [MQTT-1.5.4-1] ill-formed UTF-8: mqtt-packet decodes "\ufffd(".
  {
    name: 'topic that is not UTF-8 (C3 28)',
    version: V311,
    bytes: packet(PUBLISH, [0, 2, 0xc3, 0x28, 0x41]),
    code: MalformedPacket,
  },
  {
    name: 'topic with an encoded surrogate (ED A0 80)',
    version: V311,
    bytes: packet(PUBLISH, [0, 3, 0xed, 0xa0, 0x80]),
    code: MalformedPacket,
  },
  {
    name: 'topic with an overlong "/" (C0 AF)',
    version: V311,
    bytes: packet(PUBLISH, [0, 2, 0xc0, 0xaf]),
    code: MalformedPacket,
  },
  // [MQTT-1.5.4-2] U+0000.
  {
    name: 'topic containing U+0000',
    version: V5,
    bytes: packet(PUBLISH, [0, 3, 0x61, 0, 0x62, 0]),
    code: MalformedPacket,
  },
  // §1.5.4: control characters and non-characters MAY be refused; Mosquitto does.
  {
    name: 'topic containing TAB',
    version: V311,
    bytes: packet(PUBLISH, str('a\tb')),
    code: MalformedPacket,
  },
  {
    name: 'topic containing U+FFFF',
    version: V311,
    bytes: packet(PUBLISH, [0, 3, 0xef, 0xbf, 0xbf]),
    code: MalformedPacket,
  },
  // [MQTT-3.3.2-2] no wildcards in a topic name (the brief: 0x81, as Mosquitto 2.0.x).
  {
    name: 'PUBLISH topic "a/#"',
    version: V311,
    bytes: packet(PUBLISH, [...str('a/#'), 0x41]),
    code: MalformedPacket,
  },
  {
    name: 'PUBLISH topic "a/+/b"',
    version: V5,
    bytes: packet(PUBLISH, [...str('a/+/b'), 0, 0x41]),
    code: MalformedPacket,
  },
  // Mosquitto's TOPIC_HIERARCHY_LIMIT: more than 200 separators.
  {
    name: 'PUBLISH topic of 202 levels',
    version: V311,
    bytes: packet(PUBLISH, str('/'.repeat(201))),
    code: MalformedPacket,
  },
  // [MQTT-4.7.3-1] topic names are at least one character (3.1.1; 5.0 without an alias).
  {
    name: 'PUBLISH with an empty topic (3.1.1)',
    version: V311,
    bytes: packet(PUBLISH, [0, 0, 0x41]),
    code: MalformedPacket,
  },
  {
    name: 'PUBLISH with an empty topic and no Topic Alias (5.0)',
    version: V5,
    bytes: packet(PUBLISH, [0, 0, 0, 0x41]),
    code: MalformedPacket,
  },
  // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
  {
    name: 'PUBLISH QoS 0 with DUP',
    version: V311,
    bytes: packet(0x38, str('a')),
    code: MalformedPacket,
  },
  // [MQTT-2.2.1-3] packet identifiers are non-zero.
  {
    name: 'PUBLISH QoS 1 with packet identifier 0',
    version: V311,
    bytes: packet(0x32, [...str('a'), 0, 0]),
    code: ProtocolError,
  },
  // §3.1.2.11.x: value other than 0 or 1 is a Protocol Error.
  {
    name: 'Request Problem Information 2',
    version: V5,
    bytes: connect(V5, 0x02, [...props([0x17, 2]), ...str('c')]),
    code: ProtocolError,
  },
  {
    name: 'Payload Format Indicator 2',
    version: V5,
    bytes: packet(PUBLISH, [...str('a'), ...props([0x01, 2]), 0x41]),
    code: ProtocolError,
  },
  // [MQTT-3.3.2-?] "It is a Protocol Error to include the Content Type more than once".
  {
    name: 'Content Type twice',
    version: V5,
    bytes: packet(PUBLISH, [...str('a'), ...props([0x03, ...str('a')], [0x03, ...str('b')]), 0x41]),
    code: ProtocolError,
  },
  // §2.2.2.2: an identifier not valid for the packet. The spec says Malformed Packet;
  // Mosquitto (property_mosq.c check_command) answers Protocol Error, and so do we.
  {
    name: 'Topic Alias in CONNECT',
    version: V5,
    bytes: connect(V5, 0x02, [...props([0x23, 0, 1]), ...str('c')]),
    code: ProtocolError,
  },
  {
    name: 'Session Expiry Interval in PUBLISH',
    version: V5,
    bytes: packet(PUBLISH, [...str('a'), ...props([0x11, 0, 0, 0, 1]), 0x41]),
    code: ProtocolError,
  },
  // §3.3.2.3.4 Topic Alias 0, §3.1.2.11.3 Receive Maximum 0: Protocol Error.
  {
    name: 'Topic Alias 0',
    version: V5,
    bytes: packet(PUBLISH, [...str('a'), ...props([0x23, 0, 0]), 0x41]),
    code: ProtocolError,
  },
  {
    name: 'Receive Maximum 0',
    version: V5,
    bytes: connect(V5, 0x02, [...props([0x21, 0, 0]), ...str('c')]),
    code: ProtocolError,
  },
  // Response Topic must be a topic name [MQTT-3.3.2-14]; Mosquitto 2.0.20+ enforces it.
  {
    name: 'Response Topic with a wildcard',
    version: V5,
    bytes: packet(PUBLISH, [...str('a'), ...props([0x08, ...str('r/#')]), 0x41]),
    code: ProtocolError,
  },
  // [MQTT-1.5.5-1] minimum number of bytes; Mosquitto refuses an overlong property length.
  {
    name: 'property length 0 in two bytes (80 00)',
    version: V5,
    bytes: packet(PUBLISH, [...str('a'), 0x80, 0x00, 0x41]),
    code: MalformedPacket,
  },
  // [MQTT-3.1.2-22] 3.1.1: no password without a user name.
  {
    name: '3.1.1 CONNECT with password flag and no user name flag',
    version: V311,
    bytes: connect(V311, 0x42, [...str('c'), ...str('p')]),
    code: ProtocolError,
  },
  // [MQTT-3.1.2-12] Will QoS 3.
  {
    name: 'CONNECT with Will QoS 3',
    version: V311,
    bytes: connect(V311, 0x1e, [...str('c'), ...str('w'), 0, 0]),
    code: ProtocolError,
  },
  // [MQTT-3.1.3-?] / Mosquitto: surplus bytes after the CONNECT payload.
  {
    name: 'CONNECT with a surplus byte',
    version: V311,
    bytes: connect(V311, 0x02, [...str('c'), 0]),
    code: ProtocolError,
  },
  // [MQTT-3.1.2-2] known protocol name with the wrong level: CONNACK 0x01 / 0x84.
  {
    name: '"MQTT" with protocol level 3',
    version: V311,
    bytes: packet(0x10, [...str('MQTT'), 3, 0x02, 0, 60, ...str('c')]),
    code: UnsupportedProtocolVersion,
  },
  {
    name: '"MQIsdp" with protocol level 4',
    version: V311,
    bytes: packet(0x10, [...str('MQIsdp'), 4, 0x02, 0, 60, ...str('c')]),
    code: UnsupportedProtocolVersion,
  },
  // [MQTT-3.8.3-4] No Local on a shared subscription.
  {
    name: 'SUBSCRIBE $share/g/a with No Local',
    version: V5,
    bytes: packet(0x82, [0, 1, 0, ...str('$share/g/a'), 0x04]),
    code: ProtocolError,
  },
  // §3.8.2.1.2 Subscription Identifier 0 (spec: Protocol Error; Mosquitto: malformed).
  {
    name: 'SUBSCRIBE with Subscription Identifier 0',
    version: V5,
    bytes: packet(0x82, [0, 1, ...props([0x0b, 0]), ...str('a'), 0]),
    code: MalformedPacket,
  },
  // [MQTT-4.7.3-1], [MQTT-4.7.1-1], [MQTT-4.7.1-2] filter syntax.
  {
    name: 'SUBSCRIBE with an empty filter',
    version: V311,
    bytes: packet(0x82, [0, 1, ...str(''), 0]),
    code: MalformedPacket,
  },
  {
    name: 'SUBSCRIBE "a/#/b"',
    version: V311,
    bytes: packet(0x82, [0, 1, ...str('a/#/b'), 0]),
    code: MalformedPacket,
  },
  {
    name: 'SUBSCRIBE "a+"',
    version: V311,
    bytes: packet(0x82, [0, 1, ...str('a+'), 0]),
    code: MalformedPacket,
  },
  // [MQTT-3.8.3-2], [MQTT-3.10.3-2] at least one filter.
  {
    name: 'SUBSCRIBE without filters',
    version: V311,
    bytes: packet(0x82, [0, 1]),
    code: MalformedPacket,
  },
  {
    name: 'UNSUBSCRIBE without filters',
    version: V311,
    bytes: packet(0xa2, [0, 1]),
    code: MalformedPacket,
  },
  // 3.1.1 fixed sizes (Mosquitto checks them with the remaining length).
  {
    name: '3.1.1 PUBACK of 3 bytes',
    version: V311,
    bytes: packet(0x40, [0, 1, 0]),
    code: MalformedPacket,
  },
  {
    name: '3.1.1 DISCONNECT of 1 byte',
    version: V311,
    bytes: packet(0xe0, [0]),
    code: MalformedPacket,
  },
  { name: 'PINGREQ of 1 byte', version: V311, bytes: packet(0xc0, [0]), code: MalformedPacket },
];

describe('mqtt-packet accepts, we refuse (its parser is structural only)', () => {
  for (const { name, version, bytes, code } of REFUSED_BY_US_ONLY) {
    test(`${name}: ${bytes.toString('hex').slice(0, 48)}`, () => {
      const theirs = parseWithMqttPacket(bytes, version);
      assert.equal(theirs.error, null, 'mqtt-packet accepts it');
      assert.equal(theirs.packets.length, 1);
      assert.deepStrictEqual(decodeOurs(bytes, version), { reasonCode: code });
    });
  }
});

// ---------------------------------------------------------------------------------
// mqtt-packet bugs

describe('mqtt-packet bugs: valid packets it misreads', () => {
  test('AUTH with remaining length 0 (reason 0x00, no properties) [MQTT-3.15.2-1]', () => {
    // "The Reason Code and Property Length can be omitted if the Reason Code is 0x00
    // and there are no Properties. In this case the AUTH has a Remaining Length of 0."
    const bytes = Buffer.from('f000', 'hex');
    assert.match(parseWithMqttPacket(bytes, V5).error?.message ?? '', /Invalid auth reason code/);
    assert.deepStrictEqual(decodeOurs(bytes, V5), [
      { type: PacketType.Auth, reasonCode: 0, properties: {} },
    ]);
  });

  test('DISCONNECT with remaining length 0, then another packet [MQTT-3.14.2-1]', () => {
    // mqtt-packet tests the whole buffer, not the packet, for a reason code and a
    // property length, so it reads the next packet's bytes as this DISCONNECT's.
    const bytes = Buffer.concat([
      Buffer.from('e000', 'hex'),
      packet(0x82, [0, 1, 0, ...str('a'), 0]),
    ]);
    assert.notEqual(parseWithMqttPacket(bytes, V5).error, null);
    assert.deepStrictEqual(decodeOurs(bytes, V5), [
      { type: PacketType.Disconnect, reasonCode: 0, properties: {} },
      {
        type: PacketType.Subscribe,
        packetId: 1,
        subscriptions: [
          { topicFilter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        ],
        properties: {},
      },
    ]);
  });

  test('DISCONNECT with only a reason code, then PINGREQ [MQTT-3.14.2.2.1]', () => {
    // "If the Remaining Length is less than 2, a value of 0 is used" (property length).
    const bytes = Buffer.from('e00104c000', 'hex');
    assert.notEqual(parseWithMqttPacket(bytes, V5).error, null);
    assert.deepStrictEqual(decodeOurs(bytes, V5), [
      { type: PacketType.Disconnect, reasonCode: 0x04, properties: {} },
      { type: PacketType.Pingreq },
    ]);
  });
});

// ---------------------------------------------------------------------------------
// User properties

function publishWithUserProperties(...pairs: [string, string][]): Buffer {
  return packet(PUBLISH, [
    ...str('t'),
    ...props(...pairs.map(([k, v]) => [USER_PROPERTY, ...str(k), ...str(v)])),
  ]);
}

function ourUserProperties(bytes: Buffer): unknown {
  const decoded = decodeOurs(bytes, V5);
  assert.ok(Array.isArray(decoded) && decoded[0]?.type === PacketType.Publish);
  return decoded[0].properties.userProperties;
}

function theirUserProperties(bytes: Buffer): unknown {
  const parsed = parseWithMqttPacket(bytes, V5);
  assert.equal(parsed.error, null);
  const props = (parsed.packets[0] as { properties?: { userProperties?: unknown } }).properties;
  return { ...(props?.userProperties as object) };
}

describe('user properties: order and repeats (MQTT 5 §3.3.2.3.7)', () => {
  test('interleaved repeated keys keep their order with us, are grouped by mqtt-packet', () => {
    // The spec lets a key repeat, and the order must be kept [MQTT-3.3.2-18]; an
    // object map cannot keep a,b,a. mqtt-packet's design limitation.
    const bytes = publishWithUserProperties(['a', '1'], ['b', '2'], ['a', '3']);
    assert.deepStrictEqual(ourUserProperties(bytes), [
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
    ]);
    assert.deepStrictEqual(theirUserProperties(bytes), { a: ['1', '3'], b: '2' });
  });

  test('integer-like keys move to the front in mqtt-packet (JS own-key order)', () => {
    const bytes = publishWithUserProperties(['x', '1'], ['7', '2']);
    assert.deepStrictEqual(ourUserProperties(bytes), [
      ['x', '1'],
      ['7', '2'],
    ]);
    assert.deepStrictEqual(Object.keys(theirUserProperties(bytes) as object), ['7', 'x']);
  });

  test('a repeated key whose first value is "" loses that value in mqtt-packet (its bug)', () => {
    // parser.js tests the existing value for truthiness, so "" is overwritten.
    const bytes = publishWithUserProperties(['k', ''], ['k', 'v']);
    assert.deepStrictEqual(ourUserProperties(bytes), [
      ['k', ''],
      ['k', 'v'],
    ]);
    assert.deepStrictEqual(theirUserProperties(bytes), { k: 'v' });
  });
});

// ---------------------------------------------------------------------------------
// Receiver leniency where the spec binds only the sender

describe('reason codes outside the tables: mqtt-packet refuses, we accept', () => {
  // The tables bind the sender ([MQTT-3.9.3-1], [MQTT-3.14.2-1]); the spec does not
  // require the receiver to check them and Mosquitto does not (handle_disconnect.c,
  // handle_suback.c). Neither side is wrong; pinned so a change is deliberate.
  const cases: readonly {
    name: string;
    version: ProtocolVersion;
    bytes: Buffer;
    expected: Packet;
  }[] = [
    {
      name: '3.1.1 SUBACK return code 3',
      version: V311,
      bytes: packet(0x90, [0, 1, 3]),
      expected: { type: PacketType.Suback, packetId: 1, reasonCodes: [3], properties: {} },
    },
    {
      name: '5.0 SUBACK reason code 0x03',
      version: V5,
      bytes: packet(0x90, [0, 1, 0, 3]),
      expected: { type: PacketType.Suback, packetId: 1, reasonCodes: [3], properties: {} },
    },
    {
      name: '5.0 UNSUBACK reason code 0x05',
      version: V5,
      bytes: packet(0xb0, [0, 1, 0, 5]),
      expected: { type: PacketType.Unsuback, packetId: 1, reasonCodes: [5], properties: {} },
    },
    {
      name: '5.0 DISCONNECT reason code 0x05',
      version: V5,
      bytes: packet(0xe0, [5, 0]),
      expected: { type: PacketType.Disconnect, reasonCode: 5, properties: {} },
    },
  ];
  for (const { name, version, bytes, expected } of cases) {
    test(name, () => {
      assert.notEqual(parseWithMqttPacket(bytes, version).error, null);
      assert.deepStrictEqual(decodeOurs(bytes, version), [expected]);
    });
  }
});
