/** PUBREC from a client: answer PUBREL, or end the flow on an MQTT 5 failure code. */
import type { PubrecPacket } from '../../protocol/packets.ts';
import type { ClientConnection } from '../client-connection.ts';
import { receivedPubrec } from '../outgoing.ts';
import { requireSession } from './require-session.ts';

export function handlePubrec(conn: ClientConnection, packet: PubrecPacket): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  if (broker.debugLog) {
    broker.log.debug(`Received PUBREC from ${conn.logId} (Mid: ${packet.packetId})`);
  }
  receivedPubrec(broker, session, conn, packet.packetId, packet.reasonCode);
}
