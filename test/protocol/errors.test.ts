/**
 * One case per violation the decoder can see: the reason code (Mosquitto's choice where
 * it differs from the specification's) and the spec statement it breaks.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion, ReasonCode } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { MqttError } from '../../src/protocol/errors.ts';
import { assertDecodeError, decodeOne, field, frame, hex } from './codec-helpers.ts';

const MALFORMED = ReasonCode.MalformedPacket;
const PROTOCOL = ReasonCode.ProtocolError;
const V31 = { protocolVersion: ProtocolVersion.V31 };
const V311 = { protocolVersion: ProtocolVersion.V311 };
const V5 = { protocolVersion: ProtocolVersion.V5 };
const SERVER = { expectConnect: true };

/** A CONNECT body: protocol name, level, connect flags, keep alive 60, then `rest`. */
function connect(name: string, level: number, flags: number, ...rest: (string | Buffer)[]): Buffer {
  return frame(0x10, field(name), Buffer.from([level, flags, 0, 60]), ...rest);
}
const connect311 = (flags: number, ...rest: (string | Buffer)[]): Buffer =>
  connect('MQTT', 4, flags, ...rest);
const connect5 = (flags: number, props: string, ...rest: (string | Buffer)[]): Buffer =>
  connect('MQTT', 5, flags, props, ...rest);
/** A v5 PUBLISH QoS 0 to "t" with the given property block. */
const publish5 = (props: string): Buffer => frame(0x30, field('t'), props, 'ff');

/** A server-side decoder that has accepted a 5.0 CONNECT. */
function serverDecoder5(): FrameDecoder {
  const server = new FrameDecoder({ expectConnect: true });
  server.push(connect5(2, '00', field('c')));
  assert.equal(server.next()?.type, PacketType.Connect);
  server.protocolVersion = ProtocolVersion.V5;
  return server;
}

describe('fixed header', () => {
  test('remaining length longer than 4 bytes [MQTT-2.1.4]', () => {
    assertDecodeError(hex('30 80 80 80 80 01'), MALFORMED, 'MQTT-2.1.4');
  });
  test('reserved packet type 0 [MQTT-2.1.2]', () => {
    assertDecodeError(hex('00 00'), PROTOCOL, 'MQTT-2.1.2');
  });
  test('packet type 15 before MQTT 5 [MQTT-2.1.2]', () => {
    assertDecodeError(hex('f0 00'), PROTOCOL, 'MQTT-2.1.2', V311);
  });
  test('first packet is not CONNECT, refused on its first byte [MQTT-3.1.0-1]', () => {
    const decoder = new FrameDecoder({ expectConnect: true });
    decoder.push(hex('30'));
    assert.throws(
      () => decoder.next(),
      (e: unknown) =>
        e instanceof MqttError && e.reasonCode === PROTOCOL && e.specRef === 'MQTT-3.1.0-1',
    );
  });
  test('packet larger than maximumPacketSize, refused before its body [MQTT-3.2.2-15]', () => {
    const decoder = new FrameDecoder({ maximumPacketSize: 10 });
    decoder.push(hex('30 09')); // 11 bytes announced
    assert.throws(
      () => decoder.next(),
      (e: unknown) => e instanceof MqttError && e.reasonCode === ReasonCode.PacketTooLarge,
    );
    // Exactly the limit is fine.
    assert.equal(decodeOne(frame(0x30, field('t'), 'aabbccdd'), { maximumPacketSize: 10 }).type, 3);
  });
  test('CONNECT announcing more than 100000 bytes, server side [MQTT-3.1]', () => {
    assertDecodeError(hex('10 a1 8d 06'), MALFORMED, 'MQTT-3.1', SERVER);
  });
  for (const [name, bytes, options] of [
    ['PUBACK of 3 bytes in 3.1.1', '40 03 00 01 00', V311],
    ['PUBREC of 1 byte in 3.1', '50 01 00', V31],
    ['PUBREL of 3 bytes in 3.1.1', '62 03 00 01 00', V311],
    ['PUBCOMP of 3 bytes in 3.1.1', '70 03 00 01 00', V311],
    ['UNSUBACK of 3 bytes in 3.1.1', 'b0 03 00 01 00', V311],
    ['CONNACK of 3 bytes in 3.1.1', '20 03 00 00 00', V311],
    ['PINGREQ with a body', 'c0 01 00', V5],
    ['PINGRESP with a body', 'd0 01 00', V311],
    ['DISCONNECT with a body in 3.1.1', 'e0 01 00', V311],
  ] as const) {
    test(`fixed size: ${name} [MQTT-2.1.4]`, () => {
      assertDecodeError(hex(bytes), MALFORMED, 'MQTT-2.1.4', options);
    });
  }
  for (const [name, bytes, ref, options] of [
    ['CONNACK', '21 02 00 00', 'MQTT-2.1.3-1', V311],
    ['PUBACK', '41 02 00 01', 'MQTT-2.1.3-1', V311],
    ['PUBACK in 3.1', '42 02 00 01', 'MQTT-2.1.3-1', V31],
    ['PUBREC', '58 02 00 01', 'MQTT-2.1.3-1', V311],
    ['PUBREL 0000 in 3.1.1', '60 02 00 01', 'MQTT-3.6.1-1', V311],
    ['PUBREL 0000 in 5.0', '60 02 00 01', 'MQTT-3.6.1-1', V5],
    ['PUBCOMP', '72 02 00 01', 'MQTT-2.1.3-1', V311],
    ['SUBSCRIBE 0000', '80 06 00 01 00 01 61 00', 'MQTT-3.8.1-1', V311],
    [
      'SUBSCRIBE 0000 in 3.1 (strict since Mosquitto 2.0.12)',
      '80 06 00 01 00 01 61 00',
      'MQTT-3.8.1-1',
      V31,
    ],
    ['SUBACK', '91 03 00 01 00', 'MQTT-2.1.3-1', V311],
    ['UNSUBSCRIBE 0011', 'a3 05 00 01 00 01 61', 'MQTT-3.10.1-1', V311],
    ['UNSUBACK', 'b4 02 00 01', 'MQTT-2.1.3-1', V311],
    ['PINGREQ', 'c1 00', 'MQTT-2.1.3-1', V311],
    ['PINGRESP', 'd8 00', 'MQTT-2.1.3-1', V311],
    ['DISCONNECT', 'e1 00', 'MQTT-2.1.3-1', V5],
    ['AUTH', 'f1 00', 'MQTT-2.1.3-1', V5],
  ] as const) {
    test(`reserved flags: ${name} [${ref}]`, () => {
      assertDecodeError(hex(bytes), MALFORMED, ref, options);
    });
  }
  test('truncated field [MQTT-1.5]', () => {
    assertDecodeError(hex('30 02 00 05'), MALFORMED, 'MQTT-1.5');
  });
});

describe('PUBLISH', () => {
  test('QoS 3 [MQTT-3.3.1-4]', () => {
    assertDecodeError(frame(0x36, field('t'), '00 01'), MALFORMED, 'MQTT-3.3.1-4');
  });
  test('DUP with QoS 0 [MQTT-3.3.1-2]', () => {
    assertDecodeError(frame(0x38, field('t')), MALFORMED, 'MQTT-3.3.1-2');
  });
  test('packet identifier 0 [MQTT-2.2.1-3]', () => {
    assertDecodeError(frame(0x32, field('t'), '00 00'), PROTOCOL, 'MQTT-2.2.1-3');
  });
  for (const topic of ['#', 'a/+', 'a/+/b', 'sport/tennis#']) {
    test(`wildcard in topic name "${topic}" [MQTT-3.3.2-2]`, () => {
      assertDecodeError(frame(0x30, field(topic)), MALFORMED, 'MQTT-3.3.2-2');
    });
  }
  test('wildcard in a non-ASCII topic name [MQTT-3.3.2-2]', () => {
    assertDecodeError(frame(0x30, field('é/#')), MALFORMED, 'MQTT-3.3.2-2');
  });
  test('empty topic name in 3.1.1 [MQTT-4.7.3-1]', () => {
    assertDecodeError(frame(0x30, field('')), MALFORMED, 'MQTT-4.7.3-1', V311);
  });
  test('empty topic name in 5.0 without a topic alias (Mosquitto: malformed)', () => {
    assertDecodeError(frame(0x30, field(''), '00'), MALFORMED, 'MQTT-3.3.2-1', V5);
  });
  test('topic with more than 200 separators; 200 are accepted', () => {
    assertDecodeError(frame(0x30, field('/'.repeat(201))), MALFORMED, 'MQTT-3.3.2-2');
    assertDecodeError(frame(0x30, field('é' + '/'.repeat(201))), MALFORMED, 'MQTT-3.3.2-2');
    const ok = decodeOne(frame(0x30, field('a/'.repeat(200) + 'b')));
    assert.equal(ok.type === PacketType.Publish && ok.topic.split('/').length, 201);
  });
  test('packet identifier checked before the topic (as Mosquitto does)', () => {
    assertDecodeError(frame(0x32, field('a/#'), '00 00'), PROTOCOL, 'MQTT-2.2.1-3');
  });
  for (const [name, bytes, ref] of [
    ['ill-formed UTF-8', 'c3 28', 'MQTT-1.5.4-1'],
    ['overlong encoding', 'c0 af', 'MQTT-1.5.4-1'],
    ['overlong 3-byte encoding', 'e0 80 af', 'MQTT-1.5.4-1'],
    ['surrogate', 'ed a0 80', 'MQTT-1.5.4-1'],
    ['code point above U+10FFFF', 'f4 90 80 80', 'MQTT-1.5.4-1'],
    ['truncated sequence', 'e2 82', 'MQTT-1.5.4-1'],
    ['stray continuation byte', '61 80', 'MQTT-1.5.4-1'],
    ['U+0000', '61 00', 'MQTT-1.5.4-2'],
    ['TAB (Mosquitto refuses control characters)', '61 09', 'MQTT-1.5.4'],
    ['U+007F', '7f', 'MQTT-1.5.4'],
    ['U+0085 (C1 control)', 'c2 85', 'MQTT-1.5.4'],
    ['U+FDD0 (non-character)', 'ef b7 90', 'MQTT-1.5.4'],
    ['U+FFFE (non-character)', 'ef bf be', 'MQTT-1.5.4'],
    ['U+1FFFF (non-character)', 'f0 9f bf bf', 'MQTT-1.5.4'],
  ] as const) {
    test(`topic with ${name} [${ref}]`, () => {
      assertDecodeError(frame(0x30, field(hex(bytes))), MALFORMED, ref);
    });
  }
});

describe('CONNECT', () => {
  test('unknown protocol name [MQTT-3.1.2-1]', () => {
    assertDecodeError(connect('MQTX', 4, 2, field('c')), PROTOCOL, 'MQTT-3.1.2-1', SERVER);
    assertDecodeError(connect('MQIsdpX', 3, 2, field('c')), PROTOCOL, 'MQTT-3.1.2-1', SERVER);
  });
  for (const [name, level] of [
    ['MQTT', 3],
    ['MQTT', 6],
    ['MQTT', 0x85],
    ['MQIsdp', 4],
  ] as const) {
    test(`${name} with level ${level}: unsupported protocol version [MQTT-3.1.2-2]`, () => {
      assertDecodeError(
        connect(name, level, 2, field('c')),
        ReasonCode.UnsupportedProtocolVersion,
        'MQTT-3.1.2-2',
        SERVER,
      );
    });
  }
  test('fixed-header flags set in 3.1.1 [MQTT-2.1.3-1]', () => {
    const bytes = connect311(2, field('c'));
    bytes[0] = 0x11;
    assertDecodeError(bytes, PROTOCOL, 'MQTT-2.1.3-1', SERVER);
  });
  test('reserved connect flag [MQTT-3.1.2-3]', () => {
    assertDecodeError(connect311(0x03, field('c')), PROTOCOL, 'MQTT-3.1.2-3');
  });
  test('will QoS 3 [MQTT-3.1.2-12]', () => {
    assertDecodeError(
      connect311(0x1e, field('c'), field('w'), field('x')),
      PROTOCOL,
      'MQTT-3.1.2-12',
    );
    assertDecodeError(
      connect('MQIsdp', 3, 0x1e, field('c'), field('w'), field('x')),
      PROTOCOL,
      'MQTT-3.1.2-12',
    );
  });
  test('will QoS without the will flag [MQTT-3.1.2-11]', () => {
    assertDecodeError(connect311(0x0a, field('c')), PROTOCOL, 'MQTT-3.1.2-11');
  });
  test('will retain without the will flag [MQTT-3.1.2-13]', () => {
    assertDecodeError(connect311(0x22, field('c')), PROTOCOL, 'MQTT-3.1.2-13');
  });
  test('password without user name in 3.1.1 [MQTT-3.1.2-22]', () => {
    assertDecodeError(connect311(0x42, field('c'), field('pw')), PROTOCOL, 'MQTT-3.1.2-22');
  });
  test('surplus bytes after the payload [MQTT-3.1.3]', () => {
    assertDecodeError(connect311(0x02, field('c'), '00'), PROTOCOL, 'MQTT-3.1.3');
    assertDecodeError(connect5(0x02, '00', field('c'), '00'), PROTOCOL, 'MQTT-3.1.3');
  });
  test('client identifier that is not valid UTF-8 (Mosquitto: protocol error)', () => {
    assertDecodeError(connect311(0x02, field(hex('c3 28'))), PROTOCOL, 'MQTT-1.5.4-1');
  });
  test('missing user name (Mosquitto: protocol error)', () => {
    assertDecodeError(connect311(0x82, field('c')), PROTOCOL, 'MQTT-1.5');
  });
  test('empty or wildcard will topic [MQTT-3.1.3-11]', () => {
    assertDecodeError(
      connect311(0x06, field('c'), field(''), field('x')),
      PROTOCOL,
      'MQTT-3.1.3-11',
    );
    assertDecodeError(
      connect311(0x06, field('c'), field('a/#'), field('x')),
      PROTOCOL,
      'MQTT-3.1.3-11',
    );
  });
  test('truncated will payload [MQTT-1.5]', () => {
    assertDecodeError(connect311(0x06, field('c'), field('w'), '00 05 61'), MALFORMED, 'MQTT-1.5');
  });
  test('property not allowed in the will [MQTT-2.2.2.2]', () => {
    assertDecodeError(
      connect5(0x06, '00', field('c'), '05 11 00 00 00 01', field('w'), field('x')),
      PROTOCOL,
      'MQTT-2.2.2.2',
    );
  });
});

describe('properties', () => {
  test('repeated property', () => {
    assertDecodeError(
      connect5(2, '0a 11 00 00 00 01 11 00 00 00 02', field('c')),
      PROTOCOL,
      'MQTT-2.2.2.2',
    );
  });
  test('repeated user properties are fine', () => {
    const p = decodeOne(publish5('0e 26 00 01 61 00 01 62 26 00 01 61 00 01 63'), V5);
    assert.deepEqual(p.type === PacketType.Publish && p.properties.userProperties, [
      ['a', 'b'],
      ['a', 'c'],
    ]);
  });
  test('property not allowed in the packet', () => {
    assertDecodeError(connect5(2, '03 23 00 01', field('c')), PROTOCOL, 'MQTT-2.2.2.2');
    assertDecodeError(publish5('05 11 00 00 00 01'), PROTOCOL, 'MQTT-2.2.2.2', V5);
    assertDecodeError(hex('40 07 00 01 00 03 23 00 01'), PROTOCOL, 'MQTT-2.2.2.2', V5);
  });
  for (const [name, props, bytes] of [
    ['payload format indicator 2', '02 01 02', 'publish'],
    ['request problem information 2', '02 17 02', 'connect'],
    ['request response information 2', '02 19 02', 'connect'],
    ['maximum QoS 2', '02 24 02', 'connack'],
    ['retain available 2', '02 25 02', 'connack'],
    ['wildcard subscription available 2', '02 28 02', 'connack'],
    ['subscription identifier available 2', '02 29 02', 'connack'],
    ['shared subscription available 2', '02 2a 02', 'connack'],
    ['receive maximum 0', '03 21 00 00', 'connect'],
    ['topic alias 0', '03 23 00 00', 'publish'],
    ['maximum packet size 0', '05 27 00 00 00 00', 'connect'],
    ['response topic with a wildcard', '05 08 00 02 61 23', 'publish'],
    ['empty response topic', '03 08 00 00', 'publish'],
  ] as const) {
    test(`${name}: protocol error`, () => {
      const packet =
        bytes === 'publish'
          ? publish5(props)
          : bytes === 'connect'
            ? connect5(2, props, field('c'))
            : frame(0x20, '00 00', props);
      assertDecodeError(
        packet,
        PROTOCOL,
        name.startsWith('response') || name.startsWith('empty') ? 'MQTT-3.3.2-14' : 'MQTT-2.2.2.2',
        V5,
      );
    });
  }
  test('subscription identifier 0 in SUBSCRIBE (Mosquitto: malformed)', () => {
    assertDecodeError(
      frame(0x82, '00 01 02 0b 00', field('a'), '00'),
      MALFORMED,
      'MQTT-3.8.2.1.2',
      V5,
    );
  });
  test('subscription identifier 0 in PUBLISH: refused by a client, ignored by a server', () => {
    assertDecodeError(publish5('02 0b 00'), PROTOCOL, 'MQTT-3.3.2.3.8', V5);
    const server = serverDecoder5();
    server.push(publish5('02 0b 00'));
    assert.equal(server.next()?.type, PacketType.Publish);
  });
  test('repeated subscription identifier: fine in PUBLISH to a client, not to a server', () => {
    const bytes = publish5('04 0b 01 0b 02');
    const p = decodeOne(bytes, V5);
    assert.deepEqual(p.type === PacketType.Publish && p.properties.subscriptionIdentifiers, [1, 2]);
    const server = serverDecoder5();
    server.push(bytes);
    assert.throws(
      () => server.next(),
      (e: unknown) => e instanceof MqttError && e.reasonCode === PROTOCOL,
    );
    assertDecodeError(
      frame(0x82, '00 01 04 0b 01 0b 02', field('a'), '00'),
      PROTOCOL,
      'MQTT-3.8.2.1.2',
      V5,
    );
  });
  test('unknown property identifier [MQTT-2.2.2.2]', () => {
    assertDecodeError(publish5('02 05 00'), MALFORMED, 'MQTT-2.2.2.2', V5);
    assertDecodeError(publish5('03 80 01 00'), MALFORMED, 'MQTT-2.2.2.2', V5);
  });
  test('property length past the end of the packet [MQTT-2.2.2]', () => {
    assertDecodeError(frame(0x30, field('t'), '09 01 01'), MALFORMED, 'MQTT-2.2.2', V5);
  });
  test('property value past the property block [MQTT-1.5]', () => {
    assertDecodeError(publish5('02 02 00 00 00 00'), MALFORMED, 'MQTT-1.5', V5);
  });
  test('a later malformed property wins over an earlier protocol error', () => {
    assertDecodeError(publish5('06 11 00 00 00 01 05'), MALFORMED, 'MQTT-2.2.2.2', V5);
  });
  test('overlong or 5-byte subscription identifier [MQTT-1.5.5-1] [MQTT-1.5.5]', () => {
    assertDecodeError(publish5('03 0b 81 00'), MALFORMED, 'MQTT-1.5.5-1', V5);
    assertDecodeError(publish5('06 0b 81 81 81 81 01'), MALFORMED, 'MQTT-1.5.5', V5);
  });
  test('invalid properties in SUBSCRIBE are malformed (Mosquitto), repeats protocol errors', () => {
    assertDecodeError(
      frame(0x82, '00 01 03 23 00 01', field('a'), '00'),
      MALFORMED,
      'MQTT-2.2.2.2',
      V5,
    );
    assertDecodeError(frame(0xa2, '00 01 02 01 00', field('a')), MALFORMED, 'MQTT-2.2.2.2', V5);
  });
});

describe('SUBSCRIBE and UNSUBSCRIBE', () => {
  test('SUBSCRIBE without topic filters [MQTT-3.8.3-2]', () => {
    assertDecodeError(hex('82 02 00 01'), MALFORMED, 'MQTT-3.8.3-2', V311);
    assertDecodeError(hex('82 03 00 01 00'), MALFORMED, 'MQTT-3.8.3-2', V5);
  });
  test('SUBSCRIBE packet identifier 0 (Mosquitto: malformed) [MQTT-2.2.1-3]', () => {
    assertDecodeError(frame(0x82, '00 00', field('a'), '00'), MALFORMED, 'MQTT-2.2.1-3');
  });
  test('empty topic filter [MQTT-4.7.3-1]', () => {
    assertDecodeError(frame(0x82, '00 01', field(''), '00'), MALFORMED, 'MQTT-4.7.3-1');
    assertDecodeError(frame(0xa2, '00 01', field('')), MALFORMED, 'MQTT-4.7.3-1');
  });
  for (const filter of ['a+', '+a', 'a/#/b', '#/', 'a/b#', '/'.repeat(201)]) {
    test(`invalid topic filter "${filter.slice(0, 12)}" [MQTT-4.7.1-1]`, () => {
      assertDecodeError(frame(0x82, '00 01', field(filter), '00'), MALFORMED, 'MQTT-4.7.1-1');
      assertDecodeError(frame(0xa2, '00 01', field(filter)), MALFORMED, 'MQTT-4.7.1-1');
    });
  }
  test('requested QoS 3 or reserved option bits in 3.1.1 [MQTT-3.8.3-4]', () => {
    assertDecodeError(frame(0x82, '00 01', field('a'), '03'), MALFORMED, 'MQTT-3.8.3-4');
    assertDecodeError(frame(0x82, '00 01', field('a'), '04'), MALFORMED, 'MQTT-3.8.3-4');
    assertDecodeError(frame(0x82, '00 01 00', field('a'), '03'), MALFORMED, 'MQTT-3.8.3.1', V5);
  });
  test('reserved option bits or Retain Handling 3 in 5.0 [MQTT-3.8.3-5]', () => {
    assertDecodeError(frame(0x82, '00 01 00', field('a'), '40'), MALFORMED, 'MQTT-3.8.3-5', V5);
    assertDecodeError(frame(0x82, '00 01 00', field('a'), '80'), MALFORMED, 'MQTT-3.8.3-5', V5);
    assertDecodeError(frame(0x82, '00 01 00', field('a'), '30'), MALFORMED, 'MQTT-3.8.3-5', V5);
  });
  test('No Local on a shared subscription [MQTT-3.8.3-4]', () => {
    assertDecodeError(
      frame(0x82, '00 01 00', field('$share/g/a'), '04'),
      PROTOCOL,
      'MQTT-3.8.3-4',
      V5,
    );
  });
  for (const [filter, ref] of [
    ['$share', 'MQTT-4.8.2-1'],
    ['$share//a', 'MQTT-4.8.2-1'],
    ['$share/+/a', 'MQTT-4.8.2-2'],
    ['$share/#', 'MQTT-4.8.2-2'],
    ['$share/g', 'MQTT-4.8.2'],
    ['$share/g/', 'MQTT-4.8.2'],
  ] as const) {
    test(`invalid shared subscription "${filter}" (Mosquitto: protocol error) [${ref}]`, () => {
      assertDecodeError(frame(0x82, '00 01', field(filter), '00'), PROTOCOL, ref);
      assertDecodeError(frame(0xa2, '00 01', field(filter)), PROTOCOL, ref);
    });
  }
  test('UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]', () => {
    assertDecodeError(hex('a2 02 00 01'), MALFORMED, 'MQTT-3.10.3-2', V311);
    assertDecodeError(hex('a2 03 00 01 00'), MALFORMED, 'MQTT-3.10.3-2', V5);
  });
  test('UNSUBSCRIBE packet identifier 0 (Mosquitto: malformed) [MQTT-2.2.1-3]', () => {
    assertDecodeError(frame(0xa2, '00 00', field('a')), MALFORMED, 'MQTT-2.2.1-3');
  });
});

describe('acknowledgements, DISCONNECT, AUTH', () => {
  for (const byte0 of [0x40, 0x50, 0x62, 0x70, 0x90, 0xb0]) {
    test(`packet type ${byte0 >> 4} with packet identifier 0 [MQTT-2.2.1-3]`, () => {
      const body = byte0 === 0x90 ? '00 00 00' : '00 00';
      assertDecodeError(frame(byte0, body), PROTOCOL, 'MQTT-2.2.1-3', V311);
    });
  }
  test('reason codes Mosquitto refuses on acknowledgements [MQTT-3.4.2.1]', () => {
    assertDecodeError(hex('40 03 00 01 92'), PROTOCOL, 'MQTT-3.4.2.1', V5);
    assertDecodeError(hex('50 03 00 01 01'), PROTOCOL, 'MQTT-3.4.2.1', V5);
    assertDecodeError(hex('62 03 00 01 10'), PROTOCOL, 'MQTT-3.4.2.1', V5);
    assertDecodeError(hex('70 03 00 01 80'), PROTOCOL, 'MQTT-3.4.2.1', V5);
  });
  test('surplus bytes after an acknowledgement [MQTT-3.4.2]', () => {
    assertDecodeError(hex('40 05 00 01 00 00 ff'), MALFORMED, 'MQTT-3.4.2', V5);
  });
  test('CONNACK reserved acknowledge flags [MQTT-3.2.2-1]', () => {
    assertDecodeError(hex('20 02 02 00'), MALFORMED, 'MQTT-3.2.2-1', V311);
  });
  test('SUBACK without return codes [MQTT-3.9.3]', () => {
    assertDecodeError(hex('90 02 00 01'), PROTOCOL, 'MQTT-3.9.3', V311);
  });
  test('DISCONNECT surplus bytes (Mosquitto: protocol error) [MQTT-3.14]', () => {
    assertDecodeError(hex('e0 03 00 00 ff'), PROTOCOL, 'MQTT-3.14', V5);
  });
  test('AUTH with a reason code other than 0x00, 0x18, 0x19 [MQTT-3.15.2.1]', () => {
    assertDecodeError(hex('f0 02 01 00'), PROTOCOL, 'MQTT-3.15.2.1', V5);
  });
  test('AUTH with a reason code but no property length [MQTT-1.5]', () => {
    assertDecodeError(hex('f0 01 18'), MALFORMED, 'MQTT-1.5', V5);
  });
});

describe('failure is final', () => {
  test('every later next() throws the same error, and push() is ignored', () => {
    const decoder = new FrameDecoder();
    decoder.push(hex('36 00'));
    let first: unknown;
    assert.throws(
      () => decoder.next(),
      (e: unknown) => ((first = e), e instanceof MqttError),
    );
    decoder.push(hex('c0 00'));
    assert.throws(
      () => decoder.next(),
      (e: unknown) => e === first,
    );
    assert.throws(
      () => decoder.next(),
      (e: unknown) => e === first,
    );
    assert.equal(decoder.bufferedBytes, 0);
  });
});
