/** PUBCOMP from a client: a QoS 2 delivery is complete (handle_pubackcomp.c). */
import type { PubcompPacket } from '../../protocol/packets.ts';
import type { ClientConnection } from '../client-connection.ts';
import { completeOutgoing } from '../outgoing.ts';
import { requireSession } from './require-session.ts';

export function handlePubcomp(conn: ClientConnection, packet: PubcompPacket): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  if (broker.debugLog) {
    broker.log.debug(
      `Received PUBCOMP from ${conn.logId} (Mid: ${packet.packetId}, RC:${packet.reasonCode})`,
    );
  }
  completeOutgoing(broker, session, packet.packetId, 2, 'PUBCOMP');
}
