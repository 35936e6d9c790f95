/**
 * Conversations about the connection and session lifecycle: PINGREQ, DISCONNECT and wills,
 * session takeover and session present, queued messages, reserved and server-only packets
 * sent by a client (features §3.1, §3.2, §3.4-3.6, §3.13).
 */
import type { Conversation } from '../conversation.ts';
import { drop, expect, expectClose, ping, send } from '../conversation.ts';
import { disconnect, publish, puback, subscribe } from '../packet-bytes.ts';
import { CONNACK_OK, CONNACK_V5_OK, connected311, connected5, v311, v5 } from './common.ts';

export const sessionConversations: readonly Conversation[] = [
  {
    name: 'PINGREQ gets PINGRESP (v3.1.1)',
    ref: '[MQTT-3.12.4-1]; features §3.5',
    steps: [...connected311('ss-ping'), ...ping(), ...ping()],
  },
  {
    name: 'PINGREQ with remaining length 1 closes the connection (v3.1.1)',
    ref: 'MQTT §3.12.1; features §3.1 "PINGREQ 0"',
    steps: [...connected311('ss-ping-long'), send('c0 01 00'), send('c0 00'), expectClose()],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_OK}`, 'a< d0 00'],
    },
  },
  {
    name: 'PINGREQ with fixed-header flags is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-2.2.2-2]; features §3.17 "reserved header flags"',
    steps: [
      ...connected5('ss-ping-flags'),
      send('c1 00'),
      send('c0 00'),
      expect('e0 01 81'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< d0 00', 'a< d0 00'],
    },
  },
  {
    name: 'a CONNACK sent by a client is a protocol error: DISCONNECT 0x82 (v5)',
    ref: 'features §3.17 "server-only packets sent by a client"',
    steps: [...connected5('ss-connack'), send('20 03 00 00 00'), expect('e0 01 82'), expectClose()],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a: closed', 'a: closed'],
    },
  },
  {
    name: 'AUTH without an authentication method is a protocol error: DISCONNECT 0x82 (v5)',
    ref: '[MQTT-4.12.0-1]; features §3.12 enhanced authentication, §3.17',
    steps: [...connected5('ss-auth'), send('f0 00'), expect('e0 01 82'), expectClose()],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a: closed', 'a: closed'],
    },
  },
  {
    name: 'reserved packet type 0 after CONNECT: DISCONNECT 0x82, then close (v5)',
    ref: 'MQTT §2.1.2; features §3.1 "Reserved packet type 0/15 → v5 DISCONNECT 0x82"',
    steps: [...connected5('ss-type0-5'), send('00 00'), expect('e0 01 82'), expectClose()],
  },
  {
    name: 'reserved packet type 0 after CONNECT closes the connection (v3.1.1)',
    ref: 'MQTT §2.1.2; features §3.1',
    steps: [...connected311('ss-type0-4'), send('00 00'), send('c0 00'), expectClose()],
  },
  {
    name: 'DISCONNECT with reason 0x04 publishes the will (v5)',
    ref: 'MQTT §3.14.2.1; features §3.6 "v5 DISCONNECT with reason 0x04"',
    steps: [
      ...connected311('ss-will4-sub', 'b'),
      send(subscribe({ packetId: 1, subscriptions: ['ss/will4/#'] }), 'b'),
      expect('90 03 00 01 00', 'b'),
      ...connected5('ss-will4', 'a', { will: { topic: 'ss/will4/a', payload: 'gone' } }),
      send(disconnect(0x04)),
      expectClose(),
      expect(publish({ topic: 'ss/will4/a', payload: 'gone' }), 'b'),
    ],
  },
  {
    name: 'DISCONNECT with reason 0x00 discards the will (v5)',
    ref: '[MQTT-3.1.2-10]; features §3.6',
    steps: [
      ...connected311('ss-will0-sub', 'b'),
      send(subscribe({ packetId: 1, subscriptions: ['ss/will0/#'] }), 'b'),
      expect('90 03 00 01 00', 'b'),
      ...connected5('ss-will0', 'a', { will: { topic: 'ss/will0/a', payload: 'gone' } }),
      send(disconnect(0x00)),
      expectClose(),
      ...ping('b'),
    ],
  },
  {
    name: 'DISCONNECT discards the will (v3.1.1)',
    ref: '[MQTT-3.1.2-10]; features §3.6',
    steps: [
      ...connected311('ss-will-v3-sub', 'b'),
      send(subscribe({ packetId: 1, subscriptions: ['ss/will-v3/#'] }), 'b'),
      expect('90 03 00 01 00', 'b'),
      ...connected311('ss-will-v3', 'a', { will: { topic: 'ss/will-v3/a', payload: 'gone' } }),
      send(disconnect()),
      expectClose(),
      ...ping('b'),
    ],
  },
  {
    name: 'a DISCONNECT with a payload is a protocol error: close, and the will is published (v3.1.1)',
    ref: 'MQTT §3.14.1; features §3.1 "DISCONNECT 0 for v3.x", §3.6',
    steps: [
      ...connected311('ss-will-bad-sub', 'b'),
      send(subscribe({ packetId: 1, subscriptions: ['ss/will-bad/#'] }), 'b'),
      expect('90 03 00 01 00', 'b'),
      ...connected311('ss-will-bad', 'a', { will: { topic: 'ss/will-bad/a', payload: 'gone' } }),
      send('e0 01 00'),
      expectClose(),
      expect(publish({ topic: 'ss/will-bad/a', payload: 'gone' }), 'b'),
    ],
  },
  {
    name: 'a network loss publishes the will: live with RETAIN=0, stored as retained',
    ref: '[MQTT-3.1.2-8] [MQTT-3.3.1-9]; features §3.6, §3.9',
    steps: [
      ...connected311('ss-will-drop-sub', 'b'),
      send(
        subscribe({ packetId: 1, subscriptions: [{ filter: 'ss/will-drop/#', options: 1 }] }),
        'b',
      ),
      expect('90 03 00 01 01', 'b'),
      ...connected311('ss-will-drop', 'a', {
        will: { topic: 'ss/will-drop/a', payload: 'gone', qos: 1, retain: true },
      }),
      drop('a'),
      expect(publish({ topic: 'ss/will-drop/a', qos: 1, packetId: 1, payload: 'gone' }), 'b'),
      send(puback(1), 'b'),
      ...connected311('ss-will-drop-late', 'c'),
      send(
        subscribe({ packetId: 1, subscriptions: [{ filter: 'ss/will-drop/#', options: 1 }] }),
        'c',
      ),
      expect('90 03 00 01 01', 'c'),
      expect(
        publish({ topic: 'ss/will-drop/a', qos: 1, retain: true, packetId: 1, payload: 'gone' }),
        'c',
      ),
      send(puback(1), 'c'),
      // Clean up the shared broker's retained store.
      send(publish({ topic: 'ss/will-drop/a', retain: true }), 'c'),
      expect(publish({ topic: 'ss/will-drop/a' }), 'b'),
    ],
  },
  {
    name: 'session takeover closes the old connection (v3.1.1)',
    ref: '[MQTT-3.1.4-2]; features §3.2 duplicate id',
    steps: [
      ...connected311('ss-takeover4'),
      ...connected311('ss-takeover4', 'b'),
      expectClose(),
      ...ping('b'),
    ],
  },
  {
    name: 'session takeover sends DISCONNECT 0x8E to the old v5 connection',
    ref: '[MQTT-3.1.4-3]; features §3.2, §3.13 "0x8E Session taken over (2.0.15+)"',
    steps: [
      ...connected5('ss-takeover5'),
      ...connected5('ss-takeover5', 'b'),
      expect('e0 01 8e'),
      expectClose(),
      ...ping('b'),
    ],
    mosquitto2011: {
      difference: 'takeover-disconnect-0x8e',
      transcript: [
        `a< ${CONNACK_V5_OK}`,
        `b< ${CONNACK_V5_OK}`,
        'a: closed',
        'a: closed',
        'b< d0 00',
      ],
    },
  },
  {
    name: 'session present is 1 when a clean-session-0 session exists (v3.1.1)',
    ref: '[MQTT-3.2.2-2] [MQTT-3.2.2-1]; features §3.2 session present',
    steps: [
      send(v311('ss-present4', { cleanStart: false })),
      expect(CONNACK_OK),
      send(disconnect()),
      expectClose(),
      send(v311('ss-present4', { cleanStart: false }), 'b'),
      expect('20 02 01 00', 'b'),
      send(disconnect(), 'b'),
      expectClose('b'),
      // A clean session ends it.
      send(v311('ss-present4'), 'c'),
      expect(CONNACK_OK, 'c'),
    ],
  },
  {
    name: 'session present is 1 when a v5 session with expiry exists',
    ref: '[MQTT-3.2.2-2]; features §3.4 v5 Session Expiry Interval',
    steps: [
      send(v5('ss-present5', { cleanStart: false, properties: [{ id: 0x11, value: 60 }] })),
      expect(CONNACK_V5_OK),
      send(disconnect(0x00)),
      expectClose(),
      send(v5('ss-present5', { cleanStart: false }), 'b'),
      expect('20 09 01 00 06 22 00 0a 21 00 14', 'b'),
      send(disconnect(0x00), 'b'),
      expectClose('b'),
    ],
  },
  {
    name: 'a QoS 1 message for an offline session is delivered after reconnect (v3.1.1)',
    ref: '[MQTT-3.1.2-5]; features §3.4, §3.8',
    steps: [
      send(v311('ss-queue', { cleanStart: false })),
      expect(CONNACK_OK),
      send(subscribe({ packetId: 1, subscriptions: [{ filter: 'ss/queue', options: 1 }] })),
      expect('90 03 00 01 01'),
      send(disconnect()),
      expectClose(),
      ...connected311('ss-queue-pub', 'b'),
      send(publish({ topic: 'ss/queue', qos: 1, packetId: 9, payload: 'later' }), 'b'),
      expect('40 02 00 09', 'b'),
      send(v311('ss-queue', { cleanStart: false }), 'c'),
      expect('20 02 01 00', 'c'),
      expect(publish({ topic: 'ss/queue', qos: 1, packetId: 1, payload: 'later' }), 'c'),
      send(puback(1), 'c'),
      send(disconnect(), 'c'),
      // A clean session removes the stored one.
      send(v311('ss-queue'), 'd'),
      expect(CONNACK_OK, 'd'),
    ],
  },
  {
    name: 'DISCONNECT changing Session Expiry from 0 to non-zero is a protocol error (v5)',
    ref: '[MQTT-3.14.2-2]; features §3.4 "changing from 0 to non-zero is a protocol error"',
    steps: [
      ...connected5('ss-expiry'),
      send(disconnect(0x00, [{ id: 0x11, value: 30 }])),
      expect('e0 01 82'),
      expectClose(),
    ],
  },
];
