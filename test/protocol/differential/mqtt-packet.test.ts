/**
 * Differential tests against mqtt-packet 9, the codec inside MQTT.js and aedes: on
 * random valid packets of every type (3.1.1 and 5.0, plus 3.1 CONNECT),
 *  (a) our encoder's bytes parse with mqtt-packet into the same logical packet, and
 *  (b) mqtt-packet.generate's bytes decode with our FrameDecoder into the same packet.
 * The mapping between the two shapes is explicit (mqtt-packet-mapping.ts). Where the
 * codecs knowingly differ on random valid input (user-property order, a few packets
 * mqtt-packet refuses to generate), the comparison says so; malformed-input
 * differences are pinned one by one in mqtt-packet-divergences.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { PacketType, PacketTypeName, ProtocolVersion } from '../../../src/protocol/constants.ts';
import type { Packet } from '../../../src/protocol/packets.ts';
import {
  encodePacket,
  encodePublishForm,
  setDup,
  setPacketId,
} from '../../../src/protocol/encoder.ts';
import { FrameDecoder } from '../../../src/protocol/decoder.ts';
import {
  packetOfTypeArbitrary,
  packetTypesOf,
  publishArbitrary,
} from '../../helpers/arbitraries.ts';
import {
  flattenUserProperties,
  fromMqttPacket,
  generateWithMqttPacket,
  groupUserProperties,
  mapUserProperties,
  parseWithMqttPacket,
  toMqttPacket,
  userPropertiesAsMqttPacketParses,
} from './mqtt-packet-mapping.ts';

const NUM_RUNS = 150;

const MATRIX: readonly { version: ProtocolVersion; types: readonly PacketType[] }[] = [
  { version: ProtocolVersion.V311, types: packetTypesOf(ProtocolVersion.V311) },
  { version: ProtocolVersion.V5, types: packetTypesOf(ProtocolVersion.V5) },
  { version: ProtocolVersion.V31, types: [PacketType.Connect] },
];

const VERSION_NAME: Readonly<Record<ProtocolVersion, string>> = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

function hex(bytes: Buffer): string {
  return bytes.toString('hex');
}

/** Decodes exactly one packet from `bytes` with a fresh decoder of `version`. */
function decodeOne(bytes: Buffer, version: ProtocolVersion): Packet {
  const decoder = new FrameDecoder({ protocolVersion: version });
  decoder.push(bytes);
  const packet = decoder.next();
  assert.ok(packet !== null, `our decoder wants more bytes than ${hex(bytes)}`);
  assert.equal(decoder.next(), null, 'one packet in, one packet out');
  assert.equal(decoder.bufferedBytes, 0);
  return packet;
}

/**
 * Packets mqtt-packet's generator refuses although they are valid on the wire; its
 * generator enforces client-side rules. Each is checked explicitly below.
 */
function mqttPacketRefusesToGenerate(packet: Packet): string | null {
  if (packet.type !== PacketType.Connect) return null;
  if (packet.protocolVersion === ProtocolVersion.V31 && packet.clientId === '')
    return 'clientId must be supplied before 3.1.1';
  if (packet.clientId === '' && !packet.cleanStart)
    return 'clientId must be given if cleanSession set to 0';
  if (packet.password !== null && packet.username === null)
    return 'Username is required to use password';
  return null;
}

for (const { version, types } of MATRIX) {
  describe(`MQTT ${VERSION_NAME[version]}: our encoder -> mqtt-packet parser`, () => {
    for (const type of types) {
      test(PacketTypeName[type], () => {
        fc.assert(
          fc.property(packetOfTypeArbitrary(version, type), (packet) => {
            const bytes = encodePacket(packet, version);
            const parsed = parseWithMqttPacket(bytes, version);
            assert.equal(parsed.error, null, `mqtt-packet rejected our ${hex(bytes)}`);
            assert.equal(parsed.packets.length, 1);
            const theirs = fromMqttPacket(parsed.packets[0]!, version);
            // Known difference: mqtt-packet groups user properties by key (integer-like
            // keys first, as JS orders own keys) and drops a repeated key's empty first
            // value; compare with that view of ours.
            const expected = mapUserProperties(packet, (pairs) =>
              flattenUserProperties(userPropertiesAsMqttPacketParses(pairs)),
            );
            assert.deepStrictEqual(theirs, expected);
          }),
          { numRuns: NUM_RUNS },
        );
      });
    }
  });

  describe(`MQTT ${VERSION_NAME[version]}: mqtt-packet generator -> our decoder`, () => {
    for (const type of types) {
      test(PacketTypeName[type], () => {
        fc.assert(
          fc.property(
            packetOfTypeArbitrary(version, type).filter(
              (p) => mqttPacketRefusesToGenerate(p) === null,
            ),
            (packet) => {
              const bytes = generateWithMqttPacket(toMqttPacket(packet, version), version);
              const ours = decodeOne(bytes, version);
              // mqtt-packet writes user properties grouped by key, in own-key order.
              const expected = mapUserProperties(packet, (pairs) =>
                flattenUserProperties(groupUserProperties(pairs)),
              );
              assert.deepStrictEqual(ours, expected);
            },
          ),
          { numRuns: NUM_RUNS },
        );
      });
    }
  });
}

describe('byte-identical encodings where the encoding is canonical (3.1 and 3.1.1)', () => {
  // Without properties there is exactly one way to encode each 3.x packet, so the two
  // encoders must agree byte for byte (3.1 and 3.1.1 for every type).
  for (const version of [ProtocolVersion.V31, ProtocolVersion.V311]) {
    test(`MQTT ${VERSION_NAME[version]}`, () => {
      const arb = fc.oneof(...packetTypesOf(version).map((t) => packetOfTypeArbitrary(version, t)));
      fc.assert(
        fc.property(
          arb.filter((p) => mqttPacketRefusesToGenerate(p) === null),
          (packet) => {
            const ours = encodePacket(packet, version);
            const theirs = generateWithMqttPacket(toMqttPacket(packet, version), version);
            assert.equal(hex(ours), hex(theirs));
          },
        ),
        { numRuns: NUM_RUNS * 2 },
      );
    });
  }
});

describe('packets mqtt-packet refuses to generate but are valid on the wire', () => {
  const base = {
    type: PacketType.Connect,
    protocolName: 'MQTT',
    isBridge: false,
    keepalive: 60,
    will: null,
    username: null,
    password: null,
  } as const;
  const cases: readonly { name: string; packet: Packet; version: ProtocolVersion }[] = [
    {
      // MQTT 5 §3.1.2.9: "This version of the protocol allows the sending of a Password
      // with no User Name". mqtt-packet's generator still insists on a user name.
      name: 'MQTT 5 CONNECT with a password and no user name (mqtt-packet limitation)',
      version: ProtocolVersion.V5,
      packet: {
        ...base,
        protocolVersion: ProtocolVersion.V5,
        cleanStart: true,
        clientId: 'c',
        password: Buffer.from('secret'),
        properties: {},
      },
    },
    {
      // MQTT 5 drops 3.1.1's [MQTT-3.1.3-7]; the server assigns an id or refuses.
      name: 'MQTT 5 CONNECT with an empty client id and Clean Start 0 (mqtt-packet limitation)',
      version: ProtocolVersion.V5,
      packet: {
        ...base,
        protocolVersion: ProtocolVersion.V5,
        cleanStart: false,
        clientId: '',
        properties: {},
      },
    },
    {
      // [MQTT-3.1.3-7] forbids it for 3.1.1 clients; a server must still decode it to
      // answer CONNACK 0x02 [MQTT-3.1.3-8], so the decoder accepts it.
      name: 'MQTT 3.1.1 CONNECT with an empty client id and Clean Session 0 (client-side rule)',
      version: ProtocolVersion.V311,
      packet: {
        ...base,
        protocolVersion: ProtocolVersion.V311,
        cleanStart: false,
        clientId: '',
        properties: {},
      },
    },
  ];
  for (const { name, packet, version } of cases) {
    test(name, () => {
      assert.throws(() => generateWithMqttPacket(toMqttPacket(packet, version), version));
      const bytes = encodePacket(packet, version);
      assert.deepStrictEqual(decodeOne(bytes, version), packet);
      const parsed = parseWithMqttPacket(bytes, version);
      assert.equal(parsed.error, null);
      assert.deepStrictEqual(fromMqttPacket(parsed.packets[0]!, version), packet);
    });
  }
});

describe('fan-out PUBLISH forms (encodePublishForm, setPacketId, setDup)', () => {
  // The broker encodes a PUBLISH once per form and patches the packet id and DUP per
  // recipient: the patched bytes must be encodePacket's, and mqtt-packet must read them.
  for (const version of [ProtocolVersion.V311, ProtocolVersion.V5]) {
    test(`MQTT ${VERSION_NAME[version]}`, () => {
      fc.assert(
        fc.property(publishArbitrary(version), (packet) => {
          const form = encodePublishForm(
            packet.topic,
            packet.payload,
            packet.qos,
            packet.retain,
            false,
            packet.properties,
            version,
          );
          const bytes = Buffer.from(form.bytes);
          if (packet.qos === 0) assert.equal(form.packetIdOffset, -1);
          else setPacketId(bytes, form.packetIdOffset, packet.packetId);
          if (packet.dup) setDup(bytes);
          assert.equal(hex(bytes), hex(encodePacket(packet, version)));
          const parsed = parseWithMqttPacket(bytes, version);
          assert.equal(parsed.error, null);
          const expected = mapUserProperties(packet, (pairs) =>
            flattenUserProperties(userPropertiesAsMqttPacketParses(pairs)),
          );
          assert.deepStrictEqual(fromMqttPacket(parsed.packets[0]!, version), expected);
        }),
        { numRuns: NUM_RUNS },
      );
    });
  }
});
