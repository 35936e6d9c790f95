/**
 * MQTT 5.0 golden vectors: every packet type with and without properties, the CONNECT
 * example of spec §3.1.2.11 (flags 0xCE, keep alive 10, Session Expiry Interval 10) and
 * Mosquitto's default CONNACK (Topic Alias Maximum 10 then Receive Maximum 20).
 */
import { test } from 'node:test';
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import { checkGolden } from './codec-helpers.ts';
import type { Golden } from './codec-helpers.ts';

const E = EMPTY_PROPERTIES;

export const V5_GOLDEN: Golden[] = [
  {
    name: 'CONNECT, spec §3.1.2.11 header (CE, keep alive 10, session expiry 10) with a will',
    bytes: `10 30 00 04 4d 51 54 54 05 ce 00 0a 05 11 00 00 00 0a
            00 06 63 6c 69 65 6e 74  05 18 00 00 00 05  00 01 77  00 03 62 79 65
            00 04 75 73 65 72  00 02 70 77`,
    packet: {
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: ProtocolVersion.V5,
      isBridge: false,
      cleanStart: true,
      keepalive: 10,
      clientId: 'client',
      will: {
        topic: 'w',
        payload: Buffer.from('bye'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 5 },
      },
      username: 'user',
      password: Buffer.from('pw'),
      properties: { sessionExpiryInterval: 10 },
    },
  },
  {
    name: 'CONNECT with every CONNECT property, password without user name',
    bytes: `10 35 00 04 4d 51 54 54 05 42 00 3c 23
            21 00 14  27 00 00 03 e8  22 00 05  19 01  17 00  26 00 01 61 00 01 62
            15 00 05 53 43 52 41 4d  16 00 02 01 02
            00 01 63  00 02 70 77`,
    packet: {
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: ProtocolVersion.V5,
      isBridge: false,
      cleanStart: true,
      keepalive: 60,
      clientId: 'c',
      will: null,
      username: null,
      password: Buffer.from('pw'),
      properties: {
        receiveMaximum: 20,
        maximumPacketSize: 1000,
        topicAliasMaximum: 5,
        requestResponseInformation: 1,
        requestProblemInformation: 0,
        userProperties: [['a', 'b']],
        authenticationMethod: 'SCRAM',
        authenticationData: Buffer.from([1, 2]),
      },
    },
  },
  {
    name: "CONNACK, Mosquitto's default (topic alias maximum 10, receive maximum 20)",
    bytes: '20 09 00 00 06 22 00 0a 21 00 14',
    packet: {
      type: PacketType.Connack,
      sessionPresent: false,
      reasonCode: 0,
      properties: { topicAliasMaximum: 10, receiveMaximum: 20 },
    },
  },
  {
    name: 'CONNACK with most CONNACK properties',
    bytes: `20 33 01 00 30
            13 00 1e  12 00 06 61 75 74 6f 2d 31  25 00  24 01  27 00 00 07 d0
            28 00  29 00  2a 00  11 00 00 00 0a  1a 00 02 72 69  1c 00 03 73 72 76
            1f 00 02 6f 6b`,
    packet: {
      type: PacketType.Connack,
      sessionPresent: true,
      reasonCode: 0,
      properties: {
        serverKeepAlive: 30,
        assignedClientIdentifier: 'auto-1',
        retainAvailable: 0,
        maximumQoS: 1,
        maximumPacketSize: 2000,
        wildcardSubscriptionAvailable: 0,
        subscriptionIdentifierAvailable: 0,
        sharedSubscriptionAvailable: 0,
        sessionExpiryInterval: 10,
        responseInformation: 'ri',
        serverReference: 'srv',
        reasonString: 'ok',
      },
    },
  },
  {
    name: 'CONNACK refusal 0x87 without properties',
    bytes: '20 03 00 87 00',
    packet: { type: PacketType.Connack, sessionPresent: false, reasonCode: 0x87, properties: E },
  },
  {
    name: 'CONNACK in the 3.1.1 layout, as a 3.1.1 server refuses a 5.0 client',
    bytes: '20 02 00 01',
    packet: { type: PacketType.Connack, sessionPresent: false, reasonCode: 1, properties: E },
    decodeOnly: true,
  },
  {
    name: 'PUBLISH QoS 0 without properties',
    bytes: '30 0b 00 03 61 2f 62 00 68 65 6c 6c 6f',
    packet: {
      type: PacketType.Publish,
      dup: false,
      qos: 0,
      retain: false,
      topic: 'a/b',
      packetId: 0,
      payload: Buffer.from('hello'),
      properties: E,
    },
  },
  {
    name: 'PUBLISH QoS 1 with every PUBLISH property, two subscription identifiers',
    bytes: `32 2a 00 01 61 00 01 23
            01 01  02 00 00 00 3c  23 00 05  08 00 01 72  09 00 02 01 02
            26 00 01 6b 00 01 76  0b 07  0b 80 01  03 00 01 74
            78`,
    packet: {
      type: PacketType.Publish,
      dup: false,
      qos: 1,
      retain: false,
      topic: 'a',
      packetId: 1,
      payload: Buffer.from('x'),
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 60,
        topicAlias: 5,
        responseTopic: 'r',
        correlationData: Buffer.from([1, 2]),
        userProperties: [['k', 'v']],
        subscriptionIdentifiers: [7, 128],
        contentType: 't',
      },
    },
  },
  {
    name: 'PUBLISH with an empty topic and a topic alias',
    bytes: '30 07 00 00 03 23 00 02 78',
    packet: {
      type: PacketType.Publish,
      dup: false,
      qos: 0,
      retain: false,
      topic: '',
      packetId: 0,
      payload: Buffer.from('x'),
      properties: { topicAlias: 2 },
    },
  },
  {
    name: 'PUBACK success, short form',
    bytes: '40 02 00 01',
    packet: { type: PacketType.Puback, packetId: 1, reasonCode: 0, properties: E },
  },
  {
    name: 'PUBACK no matching subscribers, no properties',
    bytes: '40 03 00 01 10',
    packet: { type: PacketType.Puback, packetId: 1, reasonCode: 0x10, properties: E },
  },
  {
    name: 'PUBACK not authorized with a reason string',
    bytes: '40 08 00 01 87 04 1f 00 01 78',
    packet: {
      type: PacketType.Puback,
      packetId: 1,
      reasonCode: 0x87,
      properties: { reasonString: 'x' },
    },
  },
  {
    name: 'PUBACK with an empty property block',
    bytes: '40 04 00 01 00 00',
    packet: { type: PacketType.Puback, packetId: 1, reasonCode: 0, properties: E },
    decodeOnly: true,
  },
  {
    name: 'PUBREC unspecified error',
    bytes: '50 03 00 01 80',
    packet: { type: PacketType.Pubrec, packetId: 1, reasonCode: 0x80, properties: E },
  },
  {
    name: 'PUBREL packet identifier not found',
    bytes: '62 03 00 01 92',
    packet: { type: PacketType.Pubrel, packetId: 1, reasonCode: 0x92, properties: E },
  },
  {
    name: 'PUBCOMP with a user property',
    bytes: '70 0b 00 09 00 07 26 00 01 61 00 01 62',
    packet: {
      type: PacketType.Pubcomp,
      packetId: 9,
      reasonCode: 0,
      properties: { userProperties: [['a', 'b']] },
    },
  },
  {
    name: 'SUBSCRIBE with subscription identifier and options',
    bytes: `82 1d 00 03 09 0b 01 26 00 01 6b 00 01 76
            00 01 61 2d  00 0a 24 73 68 61 72 65 2f 67 2f 23 02`,
    packet: {
      type: PacketType.Subscribe,
      packetId: 3,
      subscriptions: [
        { topicFilter: 'a', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        {
          topicFilter: '$share/g/#',
          qos: 2,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        },
      ],
      properties: { subscriptionIdentifiers: [1], userProperties: [['k', 'v']] },
    },
  },
  {
    name: 'SUBACK with reason codes',
    bytes: '90 06 00 03 00 01 87 9e',
    packet: { type: PacketType.Suback, packetId: 3, reasonCodes: [1, 0x87, 0x9e], properties: E },
  },
  {
    name: 'UNSUBSCRIBE',
    bytes: 'a2 09 00 04 00 00 01 61 00 01 62',
    packet: { type: PacketType.Unsubscribe, packetId: 4, topicFilters: ['a', 'b'], properties: E },
  },
  {
    name: 'UNSUBACK with reason codes',
    bytes: 'b0 05 00 04 00 00 11',
    packet: { type: PacketType.Unsuback, packetId: 4, reasonCodes: [0, 0x11], properties: E },
  },
  { name: 'PINGREQ', bytes: 'c0 00', packet: { type: PacketType.Pingreq } },
  { name: 'PINGRESP', bytes: 'd0 00', packet: { type: PacketType.Pingresp } },
  {
    name: 'DISCONNECT, normal, short form',
    bytes: 'e0 00',
    packet: { type: PacketType.Disconnect, reasonCode: 0, properties: E },
  },
  {
    name: 'DISCONNECT with will message',
    bytes: 'e0 01 04',
    packet: { type: PacketType.Disconnect, reasonCode: 4, properties: E },
  },
  {
    name: 'DISCONNECT session taken over',
    bytes: 'e0 01 8e',
    packet: { type: PacketType.Disconnect, reasonCode: 0x8e, properties: E },
  },
  {
    name: 'DISCONNECT with a session expiry interval',
    bytes: 'e0 07 00 05 11 00 00 00 00',
    packet: {
      type: PacketType.Disconnect,
      reasonCode: 0,
      properties: { sessionExpiryInterval: 0 },
    },
  },
  {
    name: 'AUTH success, short form',
    bytes: 'f0 00',
    packet: { type: PacketType.Auth, reasonCode: 0, properties: E },
  },
  {
    name: 'AUTH continue with method and data',
    bytes: 'f0 0e 18 0c 15 00 05 53 43 52 41 4d 16 00 01 01',
    packet: {
      type: PacketType.Auth,
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from([1]) },
    },
  },
];

for (const g of V5_GOLDEN) {
  test(`5.0 golden: ${g.name}`, () => {
    checkGolden(g, ProtocolVersion.V5);
  });
}
