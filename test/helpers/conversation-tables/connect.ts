/**
 * CONNECT conversations: protocol names and levels, flags, client identifiers, the first
 * packet rule, and the CONNACK bytes a default-configured broker sends (features §3.1-3.3).
 */
import type { Conversation } from '../conversation.ts';
import {
  ASSIGNED_ID_PLACEHOLDER,
  ascii,
  expect,
  expectClose,
  ping,
  send,
} from '../conversation.ts';
import { connect, pingreq, publish } from '../packet-bytes.ts';
import { CONNACK_OK, CONNACK_V5_OK, connected311, connected5, v31, v311, v5 } from './common.ts';

export const connectConversations: readonly Conversation[] = [
  {
    name: 'MQTT 3.1 (MQIsdp, level 3) is accepted with CONNACK 0',
    ref: 'features §3.1 protocol name/version',
    steps: [send(v31('cn-v31')), expect(CONNACK_OK), ...ping()],
  },
  {
    name: 'MQTT 3.1.1 (MQTT, level 4) is accepted with CONNACK 0',
    ref: '[MQTT-3.2.2-3]; features §3.1',
    steps: [send(v311('cn-v311')), expect(CONNACK_OK), ...ping()],
  },
  {
    name: 'MQTT 5 is accepted with the default CONNACK properties',
    ref: 'features §3.3 "Example default CONNACK v5 bytes"',
    steps: [send(v5('cn-v5')), expect(CONNACK_V5_OK), ...ping()],
  },
  {
    name: 'an MQTT 5 client announcing level 6 gets the v3 form of CONNACK 1, then close',
    ref: '[MQTT-3.1.2-2]; features §3.1, §3.3 "1 in v3 layout (not 0x84)"',
    steps: [
      send(connect({ version: 5, protocolLevel: 6, clientId: 'cn-l6' })),
      expect('20 02 00 01'),
      expectClose(),
    ],
  },
  {
    name: '"MQTT" with level 3 gets CONNACK 1, then close',
    ref: '[MQTT-3.1.2-2]; features §3.1',
    steps: [
      send(connect({ version: 4, protocolLevel: 3, clientId: 'cn-l3' })),
      expect('20 02 00 01'),
      expectClose(),
    ],
  },
  {
    name: '"MQIsdp" with level 4 gets CONNACK 1, then close',
    ref: 'features §3.1',
    steps: [
      send(connect({ version: 3, protocolLevel: 4, clientId: 'cn-mq4' })),
      expect('20 02 00 01'),
      expectClose(),
    ],
  },
  {
    name: 'an unknown protocol name is closed without a CONNACK',
    ref: '[MQTT-3.1.2-1]; features §3.1',
    steps: [send(connect({ protocolName: 'MQTX', clientId: 'cn-name' })), expectClose()],
  },
  {
    name: 'a first packet that is PINGREQ is closed without an answer',
    ref: '[MQTT-3.1.0-1]; features §3.1',
    steps: [send(pingreq()), expectClose()],
  },
  {
    name: 'a first packet that is PUBLISH is closed without an answer',
    ref: '[MQTT-3.1.0-1]; features §3.1',
    steps: [send(publish({ topic: 'cn/first', payload: 'x' })), expectClose()],
  },
  {
    name: 'a first packet of reserved type 0 is closed without an answer',
    ref: '[MQTT-3.1.0-1]; features §3.1',
    steps: [send('00 00'), expectClose()],
  },
  {
    name: 'a CONNECT whose remaining length runs over 4 bytes is closed',
    ref: 'MQTT §1.5.5; features §3.1 remaining length',
    steps: [send('10 ff ff ff ff 01'), expectClose()],
  },
  {
    name: 'a second CONNECT (v3.1.1) is a protocol error: close',
    ref: '[MQTT-3.1.0-2]; features §3.1',
    steps: [...connected311('cn-twice4'), send(v311('cn-twice4')), expectClose()],
  },
  {
    name: 'a second CONNECT (v5) is a protocol error: close without DISCONNECT',
    ref: '[MQTT-3.1.0-2]; features §3.1',
    steps: [...connected5('cn-twice5'), send(v5('cn-twice5')), expectClose()],
  },
  {
    name: 'MQTT 3.1 with an empty client id gets CONNACK 2, then close',
    ref: 'features §3.2 empty id',
    steps: [send(v31('')), expect('20 02 00 02'), expectClose()],
  },
  {
    name: 'MQTT 3.1 accepts a client id longer than 23 characters',
    ref: 'features §3.2 length',
    steps: [send(v31('cn-' + 'x'.repeat(40))), expect(CONNACK_OK), ...ping()],
  },
  {
    name: 'MQTT 3.1.1 with an empty client id and clean session is accepted',
    ref: '[MQTT-3.1.3-6]; features §3.2',
    steps: [send(v311('')), expect(CONNACK_OK), ...ping()],
  },
  {
    name: 'MQTT 3.1.1 with an empty client id and clean session 0 gets CONNACK 2, then close',
    ref: '[MQTT-3.1.3-7] [MQTT-3.1.3-8]; features §3.2',
    steps: [send(v311('', { cleanStart: false })), expect('20 02 00 02'), expectClose()],
  },
  {
    name: 'MQTT 5 with an empty client id gets an Assigned Client Identifier',
    ref: '[MQTT-3.2.2-16]; features §3.2, §3.3 property order',
    steps: [
      send(v5('')),
      // Topic Alias Maximum, then Assigned Client Identifier (41 bytes, normalised), then
      // Receive Maximum.
      expect(`20 35 00 00 32 22 00 0a 12 00 29 ${ascii(ASSIGNED_ID_PLACEHOLDER)} 21 00 14`),
      ...ping(),
    ],
  },
  {
    name: 'a client id containing U+0001 is closed without a CONNACK (v3.1.1)',
    ref: '[MQTT-1.5.4-2]; features §3.1 UTF-8 strictness',
    steps: [send(v311('cn-\u0001')), expectClose()],
  },
  {
    name: 'a client id containing U+0001 is closed without a CONNACK (v5)',
    ref: '[MQTT-1.5.4-2]; features §3.1 UTF-8 strictness',
    steps: [send(v5('cn-\u0001')), expectClose()],
  },
  {
    name: 'the reserved connect flag set is closed without a CONNACK',
    ref: '[MQTT-3.1.2-3]; features §3.1 CONNECT flag validation',
    steps: [send(v311('cn-rsv', { flags: 0x03 })), expectClose()],
  },
  {
    name: 'CONNECT fixed-header flags other than 0 are closed without a CONNACK',
    ref: '[MQTT-2.2.2-2]; features §3.1',
    steps: [send(v311('cn-hdr', { firstByte: 0x11 })), expectClose()],
  },
  {
    name: 'will QoS 3 is closed without a CONNACK',
    ref: '[MQTT-3.1.2-14]; features §3.1',
    steps: [send(v311('cn-wq3', { will: { topic: 'cn/will', qos: 3 } })), expectClose()],
  },
  {
    name: 'will flag 0 with will QoS 1 is closed without a CONNACK',
    ref: '[MQTT-3.1.2-11]; features §3.1',
    steps: [send(v311('cn-wf0', { flags: 0x0a })), expectClose()],
  },
  {
    name: 'a password without a username (v3.1.1) is closed without a CONNACK',
    ref: '[MQTT-3.1.2-22]; features §3.1',
    steps: [send(v311('cn-pw', { password: 'secret' })), expectClose()],
  },
  {
    name: 'surplus bytes after the CONNECT payload are closed without a CONNACK',
    ref: 'features §3.1 "surplus bytes after payload → close"',
    steps: [send(v311('cn-surplus', { trailing: Buffer.from([0x01]) })), expectClose()],
  },
  {
    name: 'an invalid CONNECT property (Receive Maximum 0) is closed without a CONNACK',
    ref: 'MQTT 5 §3.1.2.11.3 (Receive Maximum 0); features §3.12 property validation',
    steps: [send(v5('cn-rm0', { properties: [{ id: 0x21, value: 0 }] })), expectClose()],
  },
  {
    name: 'a will property not allowed in wills (Topic Alias) is closed without a CONNACK',
    ref: 'features §3.6 "Any other property in will props → protocol error"',
    steps: [
      send(v5('cn-wprop', { will: { topic: 'cn/will', properties: [{ id: 0x23, value: 1 }] } })),
      expectClose(),
    ],
  },
  {
    name: 'an Authentication Method without a plugin gets CONNACK 0x8C, then close',
    ref: 'features §3.3 "Ext-auth method not supported by any plugin"',
    steps: [
      send(v5('cn-auth', { properties: [{ id: 0x15, value: 'SCRAM-SHA-1' }] })),
      expect('20 03 00 8c 00'),
      expectClose(),
    ],
  },
  {
    name: 'a will to $CONTROL/ is refused (closed without a CONNACK)',
    ref: 'features §3.6 ACL, §3.17 "Will to $CONTROL/"',
    steps: [send(v5('cn-wctl', { will: { topic: '$CONTROL/x', payload: 'p' } })), expectClose()],
    mosquitto2011: {
      difference: 'will-to-control-topic',
      transcript: [`a< ${CONNACK_V5_OK}`],
    },
  },
];
