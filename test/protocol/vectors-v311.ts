/**
 * MQTT 3.1.1 golden vectors: every packet type, including the variable-header example of
 * spec §3.1.2.10 (flags 0xCE, keep alive 10). Shared by the 3.1 and 3.1.1 tests.
 */
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import type { Golden } from './codec-helpers.ts';

const E = EMPTY_PROPERTIES;

export const V311_GOLDEN: Golden[] = [
  {
    name: 'CONNECT, spec §3.1.2.10 header (CE, keep alive 10) with its payload',
    bytes: `10 24 00 04 4d 51 54 54 04 ce 00 0a
            00 06 63 6c 69 65 6e 74  00 01 77  00 03 62 79 65
            00 04 75 73 65 72  00 02 70 77`,
    packet: {
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: ProtocolVersion.V311,
      isBridge: false,
      cleanStart: true,
      keepalive: 10,
      clientId: 'client',
      will: { topic: 'w', payload: Buffer.from('bye'), qos: 1, retain: false, properties: E },
      username: 'user',
      password: Buffer.from('pw'),
      properties: E,
    },
  },
  {
    name: 'CONNECT minimal, empty client id, clean session 0',
    bytes: '10 0c 00 04 4d 51 54 54 04 00 00 3c 00 00',
    packet: {
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: ProtocolVersion.V311,
      isBridge: false,
      cleanStart: false,
      keepalive: 60,
      clientId: '',
      will: null,
      username: null,
      password: null,
      properties: E,
    },
  },
  {
    name: 'CONNECT from a bridge (level 0x84), will QoS 2 retained, user name only',
    bytes: `10 1d 00 04 4d 51 54 54 84 b6 00 00 00 02 62 72
            00 05 24 53 59 53 2f 00 01 30 00 03 62 6f 62`,
    packet: {
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: ProtocolVersion.V311,
      isBridge: true,
      cleanStart: true,
      keepalive: 0,
      clientId: 'br',
      will: { topic: '$SYS/', payload: Buffer.from('0'), qos: 2, retain: true, properties: E },
      username: 'bob',
      password: null,
      properties: E,
    },
  },
  {
    name: 'CONNACK, session present',
    bytes: '20 02 01 00',
    packet: { type: PacketType.Connack, sessionPresent: true, reasonCode: 0, properties: E },
  },
  {
    name: 'CONNACK, not authorised',
    bytes: '20 02 00 05',
    packet: { type: PacketType.Connack, sessionPresent: false, reasonCode: 5, properties: E },
  },
  {
    name: 'PUBLISH QoS 0',
    bytes: '30 0a 00 03 61 2f 62 68 65 6c 6c 6f',
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
    name: 'PUBLISH QoS 1, DUP, retained',
    bytes: '3b 0c 00 03 61 2f 62 00 0a 68 65 6c 6c 6f',
    packet: {
      type: PacketType.Publish,
      dup: true,
      qos: 1,
      retain: true,
      topic: 'a/b',
      packetId: 10,
      payload: Buffer.from('hello'),
      properties: E,
    },
  },
  {
    name: 'PUBLISH QoS 2, empty payload, UTF-8 topic',
    bytes: '34 08 00 04 c3 a9 2f 78 ff ff',
    packet: {
      type: PacketType.Publish,
      dup: false,
      qos: 2,
      retain: false,
      topic: 'é/x',
      packetId: 65535,
      payload: Buffer.alloc(0),
      properties: E,
    },
  },
  {
    name: 'PUBACK',
    bytes: '40 02 00 0a',
    packet: { type: PacketType.Puback, packetId: 10, reasonCode: 0, properties: E },
  },
  {
    name: 'PUBREC',
    bytes: '50 02 01 00',
    packet: { type: PacketType.Pubrec, packetId: 256, reasonCode: 0, properties: E },
  },
  {
    name: 'PUBREL (flags 0010)',
    bytes: '62 02 00 0a',
    packet: { type: PacketType.Pubrel, packetId: 10, reasonCode: 0, properties: E },
  },
  {
    name: 'PUBCOMP',
    bytes: '70 02 00 0a',
    packet: { type: PacketType.Pubcomp, packetId: 10, reasonCode: 0, properties: E },
  },
  {
    name: 'SUBSCRIBE, two filters',
    bytes: '82 0c 00 01 00 03 61 2f 2b 01 00 01 23 02',
    packet: {
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'a/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: '#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: E,
    },
  },
  {
    name: 'SUBSCRIBE, shared subscription',
    bytes: '82 0f 00 07 00 0a 24 73 68 61 72 65 2f 67 2f 74 00',
    packet: {
      type: PacketType.Subscribe,
      packetId: 7,
      subscriptions: [
        {
          topicFilter: '$share/g/t',
          qos: 0,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        },
      ],
      properties: E,
    },
  },
  {
    name: 'SUBACK, granted QoS and failure',
    bytes: '90 05 00 01 00 02 80',
    packet: { type: PacketType.Suback, packetId: 1, reasonCodes: [0, 2, 0x80], properties: E },
  },
  {
    name: 'UNSUBSCRIBE, two filters',
    bytes: 'a2 0a 00 02 00 03 61 2f 2b 00 01 23',
    packet: {
      type: PacketType.Unsubscribe,
      packetId: 2,
      topicFilters: ['a/+', '#'],
      properties: E,
    },
  },
  {
    name: 'UNSUBACK (no payload in 3.1.1)',
    bytes: 'b0 02 00 02',
    packet: { type: PacketType.Unsuback, packetId: 2, reasonCodes: [], properties: E },
  },
  { name: 'PINGREQ', bytes: 'c0 00', packet: { type: PacketType.Pingreq } },
  { name: 'PINGRESP', bytes: 'd0 00', packet: { type: PacketType.Pingresp } },
  {
    name: 'DISCONNECT',
    bytes: 'e0 00',
    packet: { type: PacketType.Disconnect, reasonCode: 0, properties: E },
  },
];
