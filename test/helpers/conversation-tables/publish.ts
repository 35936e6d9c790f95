/**
 * PUBLISH conversations: acknowledgements and their v5 reason codes, topic validation,
 * the QoS 2 handshake, properties forwarded to subscribers, retained messages
 * (features §3.7-3.9, §3.11).
 */
import type { Conversation } from '../conversation.ts';
import { expect, expectClose, ping, send } from '../conversation.ts';
import {
  frame,
  lengthPrefixed,
  properties,
  publish,
  puback,
  pubcomp,
  pubrec,
  pubrel,
  subscribe,
  u16,
} from '../packet-bytes.ts';
import { CONNACK_OK, CONNACK_V5_OK, connected311, connected5 } from './common.ts';

export const publishConversations: readonly Conversation[] = [
  {
    name: 'QoS 0 is delivered to a matching subscription of the same client (v3.1.1)',
    ref: '[MQTT-3.3.5-1]; features §3.8',
    steps: [
      ...connected311('pb-q0'),
      send(subscribe({ packetId: 1, subscriptions: ['pb/q0'] })),
      expect('90 03 00 01 00'),
      send(publish({ topic: 'pb/q0', payload: 'hello' })),
      expect(publish({ topic: 'pb/q0', payload: 'hello' })),
    ],
  },
  {
    name: 'QoS 1 with no subscribers gets PUBACK 0x10 No matching subscribers (v5)',
    ref: 'MQTT §3.4.2.1; features §3.7 "No matching subscribers"',
    steps: [
      ...connected5('pb-nosub1'),
      send(publish({ version: 5, topic: 'pb/nosub', qos: 1, packetId: 7, payload: 'x' })),
      expect('40 03 00 07 10'),
    ],
  },
  {
    name: 'QoS 1 with no subscribers gets a plain PUBACK (v3.1.1)',
    ref: '[MQTT-3.3.4-1]; features §3.7',
    steps: [
      ...connected311('pb-nosub1-4'),
      send(publish({ topic: 'pb/nosub', qos: 1, packetId: 7, payload: 'x' })),
      expect('40 02 00 07'),
    ],
  },
  {
    name: 'QoS 2 with no subscribers: PUBREC stays 0x00 (short form), PUBREL gets PUBCOMP',
    ref: 'MQTT §4.3.3; features §3.7 "QoS2 PUBREC stays 0x00"',
    steps: [
      ...connected5('pb-nosub2'),
      send(publish({ version: 5, topic: 'pb/nosub', qos: 2, packetId: 7, payload: 'x' })),
      expect('50 02 00 07'),
      send(pubrel(7)),
      expect('70 02 00 07'),
    ],
  },
  {
    name: 'a client publishing to $SYS/ gets PUBACK 0x87 Not authorized (v5)',
    ref: 'features §3.11 "Client publishes to $SYS/..."',
    steps: [
      ...connected5('pb-sys'),
      send(publish({ version: 5, topic: '$SYS/pb', qos: 1, packetId: 8, payload: 'x' })),
      expect('40 03 00 08 87'),
    ],
  },
  {
    name: 'a client publishing to $share/ gets PUBACK 0x87 Not authorized (v5)',
    ref: 'features §3.11 "Publishing to $share/... is denied"',
    steps: [
      ...connected5('pb-share'),
      send(publish({ version: 5, topic: '$share/g/pb', qos: 1, packetId: 1, payload: 'x' })),
      expect('40 03 00 01 87'),
    ],
  },
  {
    name: 'a retained QoS 1 publish and its deletion with no subscribers get PUBACK 0x10 (v5)',
    ref: 'features §3.7 "a retained publish with no subscribers also gets 0x10"',
    steps: [
      ...connected5('pb-ret10'),
      send(
        publish({ version: 5, topic: 'pb/ret10', qos: 1, retain: true, packetId: 8, payload: 'x' }),
      ),
      expect('40 03 00 08 10'),
      send(publish({ version: 5, topic: 'pb/ret10', qos: 1, retain: true, packetId: 9 })),
      expect('40 03 00 09 10'),
    ],
  },
  {
    name: 'a topic containing TAB is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-1.5.4-1]; features §3.1 UTF-8 strictness "(verified: a topic containing TAB triggers 0x81)"',
    steps: [
      ...connected5('pb-tab5'),
      send(publish({ version: 5, topic: 'pb/a\tb', payload: 'x' })),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'a topic containing TAB closes the connection (v3.1.1)',
    ref: '[MQTT-1.5.3-1]; features §3.1 UTF-8 strictness',
    steps: [
      ...connected311('pb-tab4'),
      send(publish({ topic: 'pb/a\tb', payload: 'x' })),
      expectClose(),
    ],
  },
  {
    name: 'a wildcard in a PUBLISH topic is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-3.3.2-2]; features §3.7 "topic validity (wildcards → malformed)"',
    steps: [
      ...connected5('pb-wild'),
      send(publish({ version: 5, topic: 'pb/+', payload: 'x' })),
      expect('e0 01 81'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'invalid-publish-topic-reason',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< e0 01 82', 'a: closed'],
    },
  },
  {
    name: 'PUBLISH QoS 3 is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-3.3.1-4]; features §3.7',
    steps: [
      ...connected5('pb-qos3'),
      send(frame(0x36, lengthPrefixed('pb/q3'), u16(1), properties())),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'PUBLISH QoS 1 with packet id 0 is a protocol error: DISCONNECT 0x82 (v5)',
    ref: '[MQTT-2.2.1-3]; features §3.7 "packet id (0 → protocol error)"',
    steps: [
      ...connected5('pb-mid0'),
      send(publish({ version: 5, topic: 'pb/mid0', qos: 1, packetId: 0 })),
      expect('e0 01 82'),
      expectClose(),
    ],
  },
  {
    name: 'an empty topic without a topic alias is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-3.3.2-1]; features §3.7 "empty topic allowed only in v5 with a topic alias"',
    steps: [
      ...connected5('pb-empty'),
      send(publish({ version: 5, topic: '', qos: 1, packetId: 2 })),
      expect('e0 01 81'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'invalid-publish-topic-reason',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< e0 01 82', 'a: closed'],
    },
  },
  {
    name: 'a topic alias above the maximum (11 > 10): DISCONNECT 0x94 (v5)',
    ref: '[MQTT-3.3.2-9]; features §3.7 "Topic Alias 0 or > max_topic_alias → DISCONNECT 0x94"',
    steps: [
      ...connected5('pb-alias11'),
      send(publish({ version: 5, topic: 'pb/alias', properties: [{ id: 0x23, value: 11 }] })),
      expect('e0 01 94'),
      expectClose(),
    ],
  },
  {
    name: 'a topic alias set once is resolved later; deliveries carry the full topic (v5)',
    ref: '[MQTT-3.3.2-12]; features §3.12 Topic Alias, §3.8 "Topic Alias not used broker→client"',
    steps: [
      ...connected5('pb-alias'),
      send(subscribe({ version: 5, packetId: 1, subscriptions: ['pb/alias/t'] })),
      expect('90 04 00 01 00 00'),
      send(
        publish({
          version: 5,
          topic: 'pb/alias/t',
          payload: '1',
          properties: [{ id: 0x23, value: 1 }],
        }),
      ),
      expect(publish({ version: 5, topic: 'pb/alias/t', payload: '1' })),
      send(publish({ version: 5, topic: '', payload: '2', properties: [{ id: 0x23, value: 1 }] })),
      expect(publish({ version: 5, topic: 'pb/alias/t', payload: '2' })),
    ],
  },
  {
    name: 'v5 properties are forwarded in order; PUBACK 0x00 uses the short form',
    ref: '[MQTT-3.3.2-15] [MQTT-3.3.2-17] [MQTT-3.3.2-20]; features §3.8 "Properties forwarded"',
    steps: [
      ...connected5('pb-props'),
      send(
        subscribe({ version: 5, packetId: 1, subscriptions: [{ filter: 'pb/props', options: 1 }] }),
      ),
      expect('90 04 00 01 00 01'),
      send(
        publish({
          version: 5,
          topic: 'pb/props',
          qos: 1,
          packetId: 9,
          payload: 'x',
          properties: [
            { id: 0x03, value: 'text/plain' },
            { id: 0x26, value: ['k', 'v'] },
            { id: 0x26, value: ['k', 'w'] },
            { id: 0x01, value: 1 },
          ],
        }),
      ),
      // Delivered with the broker's own packet id (1), the same properties in the same order.
      expect(
        publish({
          version: 5,
          topic: 'pb/props',
          qos: 1,
          packetId: 1,
          payload: 'x',
          properties: [
            { id: 0x03, value: 'text/plain' },
            { id: 0x26, value: ['k', 'v'] },
            { id: 0x26, value: ['k', 'w'] },
            { id: 0x01, value: 1 },
          ],
        }),
      ),
      expect('40 02 00 09'),
      send(puback(1)),
      ...ping(),
    ],
  },
  {
    name: 'payload format indicator 2 is a protocol error: DISCONNECT 0x82 (v5)',
    ref: 'MQTT 5 §3.3.2.3.2; features §3.17 "payload format indicator other than 0/1"',
    steps: [
      ...connected5('pb-pfi'),
      send(
        publish({
          version: 5,
          topic: 'pb/pfi',
          qos: 1,
          packetId: 1,
          properties: [{ id: 0x01, value: 2 }],
        }),
      ),
      send('c0 00'),
      expect('e0 01 82'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< 40 03 00 01 10', 'a< d0 00'],
    },
  },
  {
    name: 'a Response Topic with a wildcard is a protocol error: DISCONNECT 0x82 (v5)',
    ref: '[MQTT-3.3.2-14]; features §3.12 Request/Response, §3.17 "response-topic validation"',
    steps: [
      ...connected5('pb-resp'),
      send(
        publish({
          version: 5,
          topic: 'pb/resp',
          qos: 1,
          packetId: 1,
          properties: [{ id: 0x08, value: 'pb/#' }],
        }),
      ),
      send('c0 00'),
      expect('e0 01 82'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'response-topic-validation',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< 40 03 00 01 10', 'a< d0 00'],
    },
  },
  {
    name: 'DUP=1 on QoS 0 closes the connection (v3.1.1)',
    ref: '[MQTT-3.3.1-2]; features §3.7 "DUP=1 with QoS0 → malformed"',
    steps: [
      ...connected311('pb-dup4'),
      send(publish({ topic: 'pb/dup', dup: true, payload: 'x' })),
      send('c0 00'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_OK}`, 'a< d0 00'],
    },
  },
  {
    name: 'DUP=1 on QoS 0 is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-3.3.1-2]; features §3.7',
    steps: [
      ...connected5('pb-dup5'),
      send(publish({ version: 5, topic: 'pb/dup', dup: true, payload: 'x' })),
      send('c0 00 c0 00'),
      expect('e0 01 81'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< d0 00', 'a< d0 00'],
    },
  },
  {
    name: 'a remaining length over 4 bytes after CONNECT closes without DISCONNECT (v5)',
    ref: 'MQTT §1.5.5; features §3.1 remaining length',
    steps: [...connected5('pb-rl'), send('30 ff ff ff ff 01'), expectClose()],
  },
  {
    name: 'QoS 2 is held until PUBREL, then delivered with the full QoS 2 handshake',
    ref: 'MQTT §4.3.3; features §3.7 "QoS2 inbound is not forwarded until PUBREL"',
    steps: [
      ...connected311('pb-q2-sub', 'b'),
      send(subscribe({ packetId: 1, subscriptions: [{ filter: 'pb/q2', options: 2 }] }), 'b'),
      expect('90 03 00 01 02', 'b'),
      ...connected311('pb-q2-pub'),
      send(publish({ topic: 'pb/q2', qos: 2, packetId: 5, payload: 'two' })),
      expect('50 02 00 05'),
      ...ping('b'), // nothing reached the subscriber before PUBREL
      send(pubrel(5)),
      expect('70 02 00 05'),
      expect(publish({ topic: 'pb/q2', qos: 2, packetId: 1, payload: 'two' }), 'b'),
      send(pubrec(1), 'b'),
      expect('62 02 00 01', 'b'),
      send(pubcomp(1), 'b'),
      ...ping('b'),
    ],
  },
  {
    name: 'PUBREL for an unknown packet id still gets PUBCOMP 0x00 (v5)',
    ref: 'features §3.7 "PUBREL for an unknown id still gets PUBCOMP with reason 0x00 (not 0x92)"',
    steps: [...connected5('pb-pubrel5'), send(pubrel(99)), expect('70 02 00 63')],
  },
  {
    name: 'PUBREL for an unknown packet id gets PUBCOMP (v3.1.1)',
    ref: 'MQTT §4.3.3; features §3.7',
    steps: [...connected311('pb-pubrel4'), send(pubrel(99)), expect('70 02 00 63')],
  },
  {
    name: 'PUBREL with fixed-header flags 0 closes the connection (v3.1.1)',
    ref: '[MQTT-3.6.1-1]; features §3.1',
    steps: [...connected311('pb-pubrel-flags'), send('60 02 00 63'), send('c0 00'), expectClose()],
  },
  {
    name: 'PUBACK for an unknown packet id is tolerated (v3.1.1)',
    ref: 'features §3.7 "PUBACK/PUBREC/PUBCOMP for unknown ids from clients are tolerated"',
    steps: [...connected311('pb-puback'), send(puback(5)), ...ping()],
  },
  {
    name: 'PUBACK with remaining length 3 closes the connection (v3.1.1)',
    ref: 'MQTT §3.4.1; features §3.1 fixed-size checks',
    steps: [...connected311('pb-puback3'), send('40 03 00 05 00'), send('c0 00'), expectClose()],
    mosquitto2011: {
      difference: 'strict-protocol-checks',
      transcript: [`a< ${CONNACK_OK}`, 'a< d0 00'],
    },
  },
];
