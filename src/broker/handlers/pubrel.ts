/**
 * PUBREL from a client: the held QoS 2 message is routed now, then PUBCOMP. An unknown
 * id still gets PUBCOMP (it may be a PUBREL repeated after a reconnect).
 */
import type { PubrelPacket } from '../../protocol/packets.ts';
import { PacketType } from '../../protocol/constants.ts';
import type { ClientConnection } from '../client-connection.ts';
import * as send from '../send.ts';
import { requireSession } from './require-session.ts';

export function handlePubrel(conn: ClientConnection, packet: PubrelPacket): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  const packetId = packet.packetId;
  if (broker.debugLog) broker.log.debug(`Received PUBREL from ${conn.logId} (Mid: ${packetId})`);
  const message = session.incoming.get(packetId);
  if (message !== undefined) {
    session.incoming.delete(packetId);
    session.incomingResent.delete(packetId);
    const persistence = broker.persistence;
    const eventsBefore = persistence === null ? 0 : persistence.eventCount;
    broker.publish(message);
    if (persistence !== null) {
      persistence.noteIncomingReleased(session, message);
      // Durable acks: PUBCOMP once the deliveries it made are stored.
      if (persistence.mustHoldAck(eventsBefore)) {
        persistence.holdAck(conn, PacketType.Pubcomp, packetId, 0);
        return;
      }
    }
  }
  send.pubcomp(conn, packetId);
}
