/**
 * Conversations with a configured broker: the CONNACK properties each limit adds, and
 * what happens when a client goes past them (features §1.8, §3.3, §3.7, §3.12).
 */
import type { Conversation } from '../conversation.ts';
import { expect, expectClose, ping, send } from '../conversation.ts';
import { publish, subscribe } from '../packet-bytes.ts';
import { CONNACK_OK, v311, v5 } from './common.ts';

/** One broker for all of them: these options do not interfere with each other's checks. */
const LIMITS = [
  'allow_zero_length_clientid false',
  'max_keepalive 60',
  'max_qos 1',
  'retain_available false',
  'max_packet_size 100',
  'max_topic_alias 5',
  'max_inflight_messages 3',
];

/**
 * The CONNACK properties for LIMITS, in Mosquitto's order: Topic Alias Maximum 5,
 * Retain Available 0, Maximum Packet Size 100, Receive Maximum 3, Maximum QoS 1.
 */
const LIMITS_PROPS = '22 00 05 25 00 27 00 00 00 64 21 00 03 24 01';
const CONNACK_LIMITS = `20 12 00 00 0f ${LIMITS_PROPS}`;

const connectedLimits = (clientId: string): ReturnType<typeof send>[] => [
  send(v5(clientId)),
  expect(CONNACK_LIMITS),
];

export const limitsConversations: readonly Conversation[] = [
  {
    name: 'the CONNACK lists the configured limits as properties (v5)',
    ref: 'features §3.3 CONNACK properties',
    config: LIMITS,
    steps: [...connectedLimits('lm-connack'), ...ping()],
  },
  {
    name: 'keepalive above max_keepalive: Server Keep Alive comes first in the CONNACK (v5)',
    ref: '[MQTT-3.2.2-21]; features §3.3 property order, §3.5',
    config: LIMITS,
    steps: [
      send(v5('lm-ka5', { keepAlive: 100 })),
      expect(`20 15 00 00 12 13 00 3c ${LIMITS_PROPS}`),
    ],
    mosquitto2011: {
      difference: 'max-keepalive-v3',
      transcript: ['a< 20 15 00 00 12 22 00 05 13 00 3c 25 00 27 00 00 00 64 21 00 03 24 01'],
    },
  },
  {
    name: 'keepalive 0 with max_keepalive set is overridden by Server Keep Alive (v5)',
    ref: 'features §3.3 "keepalive 0 or > max_keepalive"',
    config: LIMITS,
    steps: [
      send(v5('lm-ka0', { keepAlive: 0 })),
      expect(`20 15 00 00 12 13 00 3c ${LIMITS_PROPS}`),
    ],
    mosquitto2011: {
      difference: 'max-keepalive-v3',
      transcript: ['a< 20 15 00 00 12 22 00 05 13 00 3c 25 00 27 00 00 00 64 21 00 03 24 01'],
    },
  },
  {
    name: 'keepalive 0 with max_keepalive set gets CONNACK 2 (v3.1.1)',
    ref: 'features §3.3 "keepalive 0 or > max_keepalive (when set) → 2 (2.0.12+)"',
    config: LIMITS,
    steps: [
      send(v311('lm-ka0-4', { keepAlive: 0 })),
      expect('20 02 00 02'),
      send('c0 00'),
      expectClose(),
    ],
    mosquitto2011: { difference: 'max-keepalive-v3', transcript: [`a< ${CONNACK_OK}`, 'a< d0 00'] },
  },
  {
    name: 'keepalive within max_keepalive is accepted (v3.1.1)',
    ref: 'features §3.3',
    config: LIMITS,
    steps: [send(v311('lm-ka20-4', { keepAlive: 20 })), expect(CONNACK_OK), ...ping()],
  },
  {
    name: 'an empty client id with allow_zero_length_clientid false gets CONNACK 0x80 (v5)',
    ref: 'features §3.2 "5.0: ... else CONNACK 0x80", §3.3 (Maximum QoS is still sent)',
    config: LIMITS,
    steps: [send(v5('')), expect('20 05 00 80 02 24 01'), expectClose()],
  },
  {
    name: 'an empty client id with allow_zero_length_clientid false gets CONNACK 2 (v3.1.1)',
    ref: 'features §3.2',
    config: LIMITS,
    steps: [send(v311('')), expect('20 02 00 02'), expectClose()],
  },
  {
    name: 'SUBSCRIBE QoS 2 is granted QoS 1 under max_qos 1',
    ref: 'MQTT §3.9.3; features §3.10 "Granted QoS = min(requested, listener max_qos)"',
    config: LIMITS,
    steps: [
      ...connectedLimits('lm-sub2'),
      send(subscribe({ version: 5, packetId: 1, subscriptions: [{ filter: 'lm/q', options: 2 }] })),
      expect('90 04 00 01 00 01'),
    ],
  },
  {
    name: 'PUBLISH QoS 2 over max_qos 1: DISCONNECT 0x9B (v5)',
    ref: '[MQTT-3.3.1-4]; features §3.7 "QoS > listener max_qos → DISCONNECT 0x9B"',
    config: LIMITS,
    steps: [
      ...connectedLimits('lm-pub2'),
      send(publish({ version: 5, topic: 'lm/q', qos: 2, packetId: 1 })),
      expect('e0 01 9b'),
      expectClose(),
    ],
  },
  {
    name: 'PUBLISH QoS 2 over max_qos 1 closes the connection (v3.1.1)',
    ref: 'features §3.7',
    config: LIMITS,
    steps: [
      send(v311('lm-pub2-4')),
      expect(CONNACK_OK),
      send(publish({ topic: 'lm/q', qos: 2, packetId: 1 })),
      expectClose(),
    ],
  },
  {
    name: 'a retained PUBLISH with retain_available false: DISCONNECT 0x9A (v5)',
    ref: '[MQTT-3.3.1-5]; features §3.7 "retain while retain_available false → DISCONNECT 0x9A"',
    config: LIMITS,
    steps: [
      ...connectedLimits('lm-retain'),
      send(publish({ version: 5, topic: 'lm/r', retain: true })),
      expect('e0 01 9a'),
      expectClose(),
    ],
  },
  {
    name: 'a retained will with retain_available false gets CONNACK 0x9A (v5)',
    ref: '[MQTT-3.2.2-13]; features §3.3 "Will retain while retain_available=false"',
    config: LIMITS,
    steps: [
      send(v5('lm-will-retain', { will: { topic: 'lm/w', retain: true } })),
      expect('20 05 00 9a 02 24 01'),
      expectClose(),
    ],
  },
  {
    name: 'a packet over max_packet_size: DISCONNECT 0x95 (v5)',
    ref: '[MQTT-3.1.2-24]; features §3.13 "0x95 Packet too large"',
    config: LIMITS,
    steps: [
      ...connectedLimits('lm-big'),
      send(publish({ version: 5, topic: 'lm/big', payload: 'x'.repeat(200) })),
      expect('e0 01 95'),
      expectClose(),
    ],
  },
];
