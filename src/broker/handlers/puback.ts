/** PUBACK from a client: a QoS 1 delivery is complete (handle_pubackcomp.c). */
import type { PubackPacket } from '../../protocol/packets.ts';
import type { ClientConnection } from '../client-connection.ts';
import { completeOutgoing } from '../outgoing.ts';
import { requireSession } from './require-session.ts';

export function handlePuback(conn: ClientConnection, packet: PubackPacket): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  if (broker.debugLog) {
    broker.log.debug(
      `Received PUBACK from ${conn.logId} (Mid: ${packet.packetId}, RC:${packet.reasonCode})`,
    );
  }
  completeOutgoing(broker, session, packet.packetId, 1, 'PUBACK');
}
