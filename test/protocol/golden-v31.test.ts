/**
 * MQTT 3.1 golden vectors ("MQIsdp", level 3) and the leniencies Mosquitto keeps for
 * 3.1: CONNECT fixed-header flags, user name or password flags without the field,
 * PUBREL flags, and SUBSCRIBE/UNSUBSCRIBE without topic filters.
 */
import { test } from 'node:test';
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import type { ConnectPacket } from '../../src/protocol/packets.ts';
import { checkGolden } from './codec-helpers.ts';
import type { Golden } from './codec-helpers.ts';
import { V311_GOLDEN } from './vectors-v311.ts';

const E = EMPTY_PROPERTIES;

const connect31: ConnectPacket = {
  type: PacketType.Connect,
  protocolName: 'MQIsdp',
  protocolVersion: ProtocolVersion.V31,
  isBridge: false,
  cleanStart: true,
  keepalive: 60,
  clientId: 'a',
  will: null,
  username: null,
  password: null,
  properties: E,
};

const V31_GOLDEN: Golden[] = [
  {
    name: 'CONNECT',
    bytes: '10 0f 00 06 4d 51 49 73 64 70 03 02 00 3c 00 01 61',
    packet: connect31,
  },
  {
    name: 'CONNECT from a bridge (level 0x83) with user name and password',
    bytes: '10 18 00 06 4d 51 49 73 64 70 83 c2 00 3c 00 01 61 00 03 62 6f 62 00 02 70 77',
    packet: { ...connect31, isBridge: true, username: 'bob', password: Buffer.from('pw') },
  },
  {
    name: 'CONNECT with fixed-header flags set (tolerated for 3.1)',
    bytes: '12 0f 00 06 4d 51 49 73 64 70 03 02 00 3c 00 01 61',
    packet: connect31,
    decodeOnly: true,
  },
  {
    name: 'CONNECT with user name and password flags but neither field (tolerated)',
    bytes: '10 0f 00 06 4d 51 49 73 64 70 03 c2 00 3c 00 01 61',
    packet: connect31,
    decodeOnly: true,
  },
  {
    name: 'CONNECT with the will flag clear but will QoS and retain set (tolerated)',
    bytes: '10 0f 00 06 4d 51 49 73 64 70 03 2a 00 3c 00 01 61',
    packet: connect31,
    decodeOnly: true,
  },
  {
    name: 'CONNECT with the reserved connect flag set (tolerated)',
    bytes: '10 0f 00 06 4d 51 49 73 64 70 03 03 00 3c 00 01 61',
    packet: connect31,
    decodeOnly: true,
  },
  {
    name: 'PUBREL with flags 0000 (tolerated)',
    bytes: '60 02 00 0a',
    packet: { type: PacketType.Pubrel, packetId: 10, reasonCode: 0, properties: E },
    decodeOnly: true,
  },
  {
    name: 'SUBSCRIBE without topic filters (accepted for 3.1)',
    bytes: '82 02 00 01',
    packet: { type: PacketType.Subscribe, packetId: 1, subscriptions: [], properties: E },
  },
  {
    name: 'UNSUBSCRIBE without topic filters (accepted for 3.1)',
    bytes: 'a2 02 00 01',
    packet: { type: PacketType.Unsubscribe, packetId: 1, topicFilters: [], properties: E },
  },
  // Every other packet is laid out as in 3.1.1.
  ...V311_GOLDEN.filter((g) => g.packet.type !== PacketType.Connect),
];

for (const g of V31_GOLDEN) {
  test(`3.1 golden: ${g.name}`, () => {
    checkGolden(g, ProtocolVersion.V31);
  });
}

test('3.1 golden: a password after an unreadable user name is dropped with it', () => {
  // User name 0xFF (not UTF-8, ignored as Mosquitto does for 3.1), then password "p".
  checkGolden(
    {
      name: 'CONNECT, bad user name and a password',
      bytes: '10 15 00 06 4d 51 49 73 64 70 03 c2 00 3c 00 01 63 00 01 ff 00 01 70',
      packet: { ...connect31, clientId: 'c' },
      decodeOnly: true,
    },
    ProtocolVersion.V31,
  );
});
