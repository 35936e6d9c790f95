/**
 * The packets a bridge sends its remote besides the messages it forwards: the connection
 * state, one SUBSCRIBE or UNSUBSCRIBE per `topic` line (Mosquitto sends one filter per
 * packet), PINGREQ; and the texts its log gives a refusing CONNACK (handle_connack.c).
 */
import { Buffer } from 'node:buffer';
import type { QoS } from '../../protocol/constants.ts';
import { PacketType } from '../../protocol/constants.ts';
import { encodePacket } from '../../protocol/encoder.ts';
import type { Packet } from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import { reasonString } from '../../client/errors.ts';
import type { ClientConnection } from '../client-connection.ts';

/** Appends a packet to the connection's output (written with the rest of this turn's). */
export function sendToRemote(conn: ClientConnection, packet: Packet): void {
  conn.out.append(encodePacket(packet, conn.protocolVersion));
  conn.packetQueued();
}

/** The retained connection state ("1"), sent once on connect and not tracked (as Mosquitto). */
export function statePacket(topic: string, qos: QoS, retain: boolean, packetId: number): Packet {
  return {
    type: PacketType.Publish,
    dup: false,
    qos,
    retain,
    topic,
    packetId: qos === 0 ? 0 : packetId,
    payload: Buffer.from('1'),
    properties: EMPTY_PROPERTIES,
  };
}

/**
 * SUBSCRIBE for an `in`/`both` line. An MQTT 5 bridge asks for no-local and
 * retain-as-published, so its own messages do not come back (3.x remotes learn the same
 * from the CONNECT's bridge bit).
 */
export function subscribePacket(packetId: number, filter: string, qos: QoS, v5: boolean): Packet {
  return {
    type: PacketType.Subscribe,
    packetId,
    subscriptions: [
      { topicFilter: filter, qos, noLocal: v5, retainAsPublished: v5, retainHandling: 0 },
    ],
    properties: EMPTY_PROPERTIES,
  };
}

/** Mosquitto's debug line for it: the options byte as sent. */
export function subscribeLine(
  bridgeId: string,
  packetId: number,
  filter: string,
  qos: QoS,
  v5: boolean,
): string {
  const options = v5 ? qos | 0x0c : qos;
  return `Bridge ${bridgeId} sending SUBSCRIBE (Mid: ${packetId}, Topic: ${filter}, QoS: ${qos}, Options: 0x${options.toString(16).padStart(2, '0')})`;
}

export function unsubscribePacket(packetId: number, filter: string): Packet {
  return {
    type: PacketType.Unsubscribe,
    packetId,
    topicFilters: [filter],
    properties: EMPTY_PROPERTIES,
  };
}

export const PINGREQ_PACKET: Packet = { type: PacketType.Pingreq };

const V3_REFUSALS: Readonly<Record<number, string>> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'broker unavailable',
  4: 'bad user name or password',
  5: 'not authorised',
};

/** The log line for a CONNACK refusal the bridge does not adapt to. */
export function refusalLine(code: number, v5: boolean): string {
  return `Connection Refused: ${v5 ? reasonString(code) : (V3_REFUSALS[code] ?? 'unknown reason')}`;
}
