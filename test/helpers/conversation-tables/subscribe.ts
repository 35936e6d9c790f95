/**
 * SUBSCRIBE / UNSUBSCRIBE conversations, subscription options, shared subscriptions and
 * retained messages on subscribe (features §3.8-3.11).
 */
import type { Conversation } from '../conversation.ts';
import { expect, expectClose, ping, send } from '../conversation.ts';
import { publish, puback, subscribe, toHex, unsubscribe } from '../packet-bytes.ts';
import { CONNACK_OK, CONNACK_V5_OK, connected311, connected5, v31 } from './common.ts';

export const subscribeConversations: readonly Conversation[] = [
  {
    name: 'SUBACK grants the requested QoS 0/1/2 (v3.1.1)',
    ref: '[MQTT-3.9.3-1]; features §3.10 granted QoS',
    steps: [
      ...connected311('sb-grant4'),
      send(
        subscribe({
          packetId: 3,
          subscriptions: [
            { filter: 'sb/a', options: 0 },
            { filter: 'sb/+', options: 1 },
            { filter: 'sb/#', options: 2 },
          ],
        }),
      ),
      expect('90 05 00 03 00 01 02'),
    ],
  },
  {
    name: 'SUBACK grants the requested QoS 0/1/2 with an empty property block (v5)',
    ref: '[MQTT-3.9.3-1]; features §3.10',
    steps: [
      ...connected5('sb-grant5'),
      send(
        subscribe({
          version: 5,
          packetId: 3,
          subscriptions: [
            { filter: 'sb/a', options: 0 },
            { filter: 'sb/+', options: 1 },
            { filter: 'sb/#', options: 2 },
          ],
        }),
      ),
      expect('90 06 00 03 00 00 01 02'),
    ],
  },
  {
    name: 'SUBACK for MQTT 3.1',
    ref: 'features §3.10',
    steps: [
      send(v31('sb-grant3')),
      expect(CONNACK_OK),
      send(subscribe({ packetId: 1, subscriptions: [{ filter: 'sb/v31', options: 1 }] })),
      expect('90 03 00 01 01'),
    ],
  },
  {
    name: 'an invalid filter (# not last) closes the connection (v3.1.1)',
    ref: '[MQTT-4.7.1-2]; features §3.10 "invalid filter → malformed/close"',
    steps: [
      ...connected311('sb-bad4'),
      send(subscribe({ packetId: 3, subscriptions: ['sb/#/b'] })),
      expectClose(),
    ],
  },
  {
    name: 'an invalid filter (+ inside a level) is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-4.7.1-3]; features §3.10',
    steps: [
      ...connected5('sb-bad5'),
      send(subscribe({ version: 5, packetId: 3, subscriptions: ['sb/b+'] })),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'an empty filter is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-4.7.3-1]; features §3.10 "empty ... filter → malformed"',
    steps: [
      ...connected5('sb-empty'),
      send(subscribe({ version: 5, packetId: 3, subscriptions: [''] })),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'a SUBSCRIBE without any filter is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-3.8.3-2]; features §3.10 "empty payload → malformed"',
    steps: [
      ...connected5('sb-none'),
      send(subscribe({ version: 5, packetId: 3, subscriptions: [] })),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'SUBSCRIBE with fixed-header flags 0 closes the connection (v3.1.1)',
    ref: '[MQTT-3.8.1-1]; features §3.10 "Fixed-header flags must be 0x2"',
    steps: [
      ...connected311('sb-flags4'),
      send(subscribe({ packetId: 3, subscriptions: ['sb/f'], firstByte: 0x80 })),
      expectClose(),
    ],
  },
  {
    name: 'SUBSCRIBE with fixed-header flags 0 is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-3.8.1-1]; features §3.10',
    steps: [
      ...connected5('sb-flags5'),
      send(subscribe({ version: 5, packetId: 3, subscriptions: ['sb/f'], firstByte: 0x80 })),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'retain handling 3 is malformed: DISCONNECT 0x81 (v5)',
    ref: '[MQTT-3.8.3-5]; features §3.10 "retain-handling 3 → malformed"',
    steps: [
      ...connected5('sb-rh3'),
      send(
        subscribe({
          version: 5,
          packetId: 3,
          subscriptions: [{ filter: 'sb/rh3', options: 0x30 }],
        }),
      ),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'requested QoS 3 closes the connection (v3.1.1)',
    ref: '[MQTT-3.8.3-4]; features §3.10',
    steps: [
      ...connected311('sb-q3'),
      send(subscribe({ packetId: 3, subscriptions: [{ filter: 'sb/q3', options: 3 }] })),
      expectClose(),
    ],
  },
  {
    name: 'SUBSCRIBE with packet id 0 closes the connection (v3.1.1)',
    ref: '[MQTT-2.3.1-1]; features §3.10 "packet id 0 → malformed"',
    steps: [
      ...connected311('sb-mid0'),
      send(subscribe({ packetId: 0, subscriptions: ['sb/mid0'] })),
      expectClose(),
    ],
  },
  {
    name: 'a Subscription Identifier of 0 is malformed: DISCONNECT 0x81 (v5)',
    ref: 'MQTT §3.8.2.1.2; features §3.8 "0 in SUBSCRIBE → malformed"',
    steps: [
      ...connected5('sb-sid0'),
      send(
        subscribe({
          version: 5,
          packetId: 4,
          properties: [{ id: 0x0b, value: 0 }],
          subscriptions: ['sb/sid0'],
        }),
      ),
      expect('e0 01 81'),
      expectClose(),
    ],
  },
  {
    name: 'the Subscription Identifier is added to each delivery (v5)',
    ref: '[MQTT-3.3.4-3]; features §3.8 Subscription Identifier',
    steps: [
      ...connected5('sb-sid'),
      send(
        subscribe({
          version: 5,
          packetId: 4,
          properties: [{ id: 0x0b, value: 300 }],
          subscriptions: ['sb/sid'],
        }),
      ),
      expect('90 04 00 04 00 00'),
      send(publish({ version: 5, topic: 'sb/sid', payload: 'x' })),
      expect(
        publish({
          version: 5,
          topic: 'sb/sid',
          payload: 'x',
          properties: [{ id: 0x0b, value: 300 }],
        }),
      ),
    ],
  },
  {
    name: 'a shared subscription is accepted from an MQTT 3.1.1 client',
    ref: 'features §3.11 "Shared subscriptions available for all protocol versions"',
    steps: [
      ...connected311('sb-share4'),
      send(subscribe({ packetId: 1, subscriptions: ['$share/g/sb/share4'] })),
      expect('90 03 00 01 00'),
    ],
  },
  {
    name: '$share/<group> without a filter is a protocol error: DISCONNECT 0x82 (v5)',
    ref: '[MQTT-4.8.2-1]; features §3.11, §3.17 "Shared-sub validation"',
    steps: [
      ...connected5('sb-share-nofilter'),
      send(subscribe({ version: 5, packetId: 1, subscriptions: ['$share/g'] })),
      send('c0 00'),
      expect('e0 01 82'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'shared-subscription-validation',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< 90 04 00 01 00 00', 'a< d0 00'],
    },
  },
  {
    name: '$share/<group>/ with an empty filter is a protocol error: DISCONNECT 0x82 (v5)',
    ref: '[MQTT-4.8.2-1]; features §3.11, §3.17 "Shared-sub validation"',
    steps: [
      ...connected5('sb-share-empty'),
      send(subscribe({ version: 5, packetId: 1, subscriptions: ['$share/g/'] })),
      send('c0 00'),
      expect('e0 01 82'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'shared-subscription-validation',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< 90 04 00 01 00 00', 'a< d0 00'],
    },
  },
  {
    name: 'No Local on a shared subscription is a protocol error: DISCONNECT 0x82 (v5)',
    ref: '[MQTT-3.8.3-4]; features §3.10, §3.17 "no-local on shared"',
    steps: [
      ...connected5('sb-share-nl'),
      send(
        subscribe({
          version: 5,
          packetId: 1,
          subscriptions: [{ filter: '$share/g/sb/nl', options: 0x04 }],
        }),
      ),
      send('c0 00'),
      expect('e0 01 82'),
      expectClose(),
    ],
    mosquitto2011: {
      difference: 'shared-subscription-validation',
      transcript: [`a< ${CONNACK_V5_OK}`, 'a< 90 04 00 01 00 00', 'a< d0 00'],
    },
  },
  {
    name: 'UNSUBACK reason codes: 0x00 for an existing, 0x11 for a missing subscription (v5)',
    ref: '[MQTT-3.11.3-1]; features §3.10 UNSUBACK (v5)',
    steps: [
      ...connected5('sb-unsub5'),
      send(subscribe({ version: 5, packetId: 3, subscriptions: ['sb/unsub/a'] })),
      expect('90 04 00 03 00 00'),
      send(unsubscribe({ version: 5, packetId: 4, filters: ['sb/unsub/a', 'sb/unsub/b'] })),
      expect('b0 05 00 04 00 00 11'),
    ],
  },
  {
    name: 'UNSUBACK has no payload (v3.1.1)',
    ref: 'MQTT §3.11.2; features §3.10',
    steps: [
      ...connected311('sb-unsub4'),
      send(unsubscribe({ packetId: 4, filters: ['sb/unsub/a', 'sb/unsub/b'] })),
      expect('b0 02 00 04'),
    ],
  },
  {
    name: 'UNSUBSCRIBE without any filter closes the connection (v3.1.1)',
    ref: '[MQTT-3.10.3-2]; features §3.10',
    steps: [
      ...connected311('sb-unsub-none'),
      send(unsubscribe({ packetId: 4, filters: [] })),
      expectClose(),
    ],
  },
  {
    name: 'a filter starting with + does not match a topic starting with $',
    ref: '[MQTT-4.7.2-1]; features §3.11 $-topics',
    steps: [
      ...connected311('sb-dollar-sub', 'b'),
      send(subscribe({ packetId: 1, subscriptions: ['+/sb-dollar'] }), 'b'),
      expect('90 03 00 01 00', 'b'),
      ...connected5('sb-dollar-pub'),
      send(publish({ version: 5, topic: '$sbx/sb-dollar', qos: 1, packetId: 2, payload: 'x' })),
      expect('40 03 00 02 10'),
      ...ping('b'),
    ],
  },
  {
    name: 'No Local: a client does not get its own message back; PUBACK still 0x00 (v5)',
    ref: '[MQTT-3.8.3-3]; features §3.8 No Local',
    steps: [
      ...connected5('sb-nolocal'),
      send(
        subscribe({
          version: 5,
          packetId: 1,
          subscriptions: [{ filter: 'sb/nolocal/#', options: 0x04 }],
        }),
      ),
      expect('90 04 00 01 00 00'),
      send(publish({ version: 5, topic: 'sb/nolocal/a', qos: 1, packetId: 4, payload: 'z' })),
      expect('40 02 00 04'),
      ...ping(),
    ],
  },
  {
    name: 'retained messages on subscribe: parent before child, RETAIN=1, min QoS; deletion',
    ref: '[MQTT-3.3.1-6] [MQTT-3.3.1-10]; features §3.9',
    steps: [
      ...connected311('sb-ret-pub'),
      send(publish({ topic: 'sb/ret/x', retain: true, payload: 'r1' })),
      send(publish({ topic: 'sb/ret/x/y', retain: true, qos: 1, packetId: 3, payload: 'r2' })),
      expect('40 02 00 03'),
      ...connected311('sb-ret-sub', 'b'),
      send(subscribe({ packetId: 5, subscriptions: [{ filter: 'sb/ret/#', options: 2 }] }), 'b'),
      expect('90 03 00 05 02', 'b'),
      expect(publish({ topic: 'sb/ret/x', retain: true, payload: 'r1' }), 'b'),
      expect(
        publish({ topic: 'sb/ret/x/y', retain: true, qos: 1, packetId: 1, payload: 'r2' }),
        'b',
      ),
      send(puback(1), 'b'),
      // An empty retained payload deletes, and still reaches current subscribers (RETAIN=0).
      send(publish({ topic: 'sb/ret/x', retain: true })),
      expect(publish({ topic: 'sb/ret/x' }), 'b'),
      // v3.x: retained messages are sent again on every SUBSCRIBE.
      send(subscribe({ packetId: 6, subscriptions: [{ filter: 'sb/ret/#', options: 2 }] }), 'b'),
      expect('90 03 00 06 02', 'b'),
      expect(
        publish({ topic: 'sb/ret/x/y', retain: true, qos: 1, packetId: 2, payload: 'r2' }),
        'b',
      ),
      send(puback(2), 'b'),
      // Clean up the shared broker's retained store.
      send(publish({ topic: 'sb/ret/x/y', retain: true })),
      ...ping(),
    ],
  },
  {
    name: 'retain handling 1 sends retained only for a new subscription, 2 never (v5)',
    ref: '[MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]; features §3.9 v5 Retain Handling',
    steps: [
      ...connected5('sb-rh'),
      send(publish({ version: 5, topic: 'sb/rh/x', retain: true, payload: 'r' })),
      send(
        subscribe({
          version: 5,
          packetId: 1,
          subscriptions: [{ filter: 'sb/rh/#', options: 0x10 }],
        }),
      ),
      expect('90 04 00 01 00 00'),
      expect(publish({ version: 5, topic: 'sb/rh/x', retain: true, payload: 'r' })),
      send(
        subscribe({
          version: 5,
          packetId: 2,
          subscriptions: [{ filter: 'sb/rh/#', options: 0x10 }],
        }),
      ),
      expect('90 04 00 02 00 00'),
      send(
        subscribe({
          version: 5,
          packetId: 3,
          subscriptions: [{ filter: 'sb/rh/+', options: 0x20 }],
        }),
      ),
      expect('90 04 00 03 00 00'),
      send(publish({ version: 5, topic: 'sb/rh/x', retain: true })),
      // The deletion is delivered live, once per matching subscription (v5), RETAIN=0.
      expect(publish({ version: 5, topic: 'sb/rh/x' })),
      expect(publish({ version: 5, topic: 'sb/rh/x' })),
      ...ping(),
    ],
  },
  {
    name: 'Retain As Published keeps RETAIN=1 on live delivery (v5)',
    ref: '[MQTT-3.3.1-12] [MQTT-3.3.1-13]; features §3.8 Retain As Published',
    steps: [
      ...connected5('sb-rap'),
      send(
        subscribe({
          version: 5,
          packetId: 1,
          subscriptions: [{ filter: 'sb/rap', options: 0x08 }],
        }),
      ),
      expect('90 04 00 01 00 00'),
      send(publish({ version: 5, topic: 'sb/rap', retain: true, payload: 'r' })),
      expect(publish({ version: 5, topic: 'sb/rap', retain: true, payload: 'r' })),
      send(publish({ version: 5, topic: 'sb/rap', retain: true })),
      expect(publish({ version: 5, topic: 'sb/rap', retain: true })),
    ],
  },
  {
    name: 'a shared subscription does not receive retained messages on subscribe',
    ref: 'MQTT §4.8.2; features §3.9 "Shared subscriptions never receive retained", §3.17',
    steps: [
      ...connected311('sb-share-ret'),
      send(publish({ topic: 'sb/share-ret/x', retain: true, qos: 1, packetId: 1, payload: 'r' })),
      expect('40 02 00 01'),
      send(subscribe({ packetId: 2, subscriptions: ['$share/g/sb/share-ret/#'] })),
      expect('90 03 00 02 00'),
      send(publish({ topic: 'sb/share-ret/x', retain: true })),
      expect(publish({ topic: 'sb/share-ret/x' })),
    ],
    mosquitto2011: {
      difference: 'retained-on-shared-subscription',
      transcript: [
        `a< ${CONNACK_OK}`,
        'a< 40 02 00 01',
        'a< 90 03 00 02 00',
        `a< ${toHex(publish({ topic: 'sb/share-ret/x', retain: true, payload: 'r' }))}`,
      ],
    },
  },
];
