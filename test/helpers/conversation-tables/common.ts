/**
 * Shorthands shared by the conversation tables: connecting with each protocol version and
 * the CONNACKs a default-configured Mosquitto sends back.
 */
import type { Step } from '../conversation.ts';
import { expect, send } from '../conversation.ts';
import { connect, type ConnectOptions } from '../packet-bytes.ts';

/** CONNACK for MQTT 3.1 / 3.1.1: accepted, no session present. */
export const CONNACK_OK = '20 02 00 00';

/**
 * CONNACK for MQTT 5 with the default config: accepted, then the properties Mosquitto
 * always sends: Topic Alias Maximum 10 (22 00 0a) and Receive Maximum 20 (21 00 14)
 * (features §3.3).
 */
export const CONNACK_V5_OK = '20 09 00 00 06 22 00 0a 21 00 14';

export const v31 = (clientId: string, options: ConnectOptions = {}): Buffer =>
  connect({ ...options, version: 3, clientId });
export const v311 = (clientId: string, options: ConnectOptions = {}): Buffer =>
  connect({ ...options, version: 4, clientId });
export const v5 = (clientId: string, options: ConnectOptions = {}): Buffer =>
  connect({ ...options, version: 5, clientId });

/** An accepted MQTT 3.1.1 connection. */
export const connected311 = (
  clientId: string,
  client = 'a',
  options: ConnectOptions = {},
): Step[] => [send(v311(clientId, options), client), expect(CONNACK_OK, client)];

/** An accepted MQTT 5 connection (default config). */
export const connected5 = (
  clientId: string,
  client = 'a',
  options: ConnectOptions = {},
): Step[] => [send(v5(clientId, options), client), expect(CONNACK_V5_OK, client)];
