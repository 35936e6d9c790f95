/**
 * DISCONNECT from a client. MQTT 5 may change the Session Expiry Interval here, but not
 * from 0 to non-zero [MQTT-3.14.2-2]. Reason 0x04 keeps the will; any other discards it.
 */
import type { DisconnectPacket } from '../../protocol/packets.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import type { ClientConnection } from '../client-connection.ts';
import { CloseReason } from '../close-reason.ts';
import { requireSession } from './require-session.ts';

export function handleDisconnect(conn: ClientConnection, packet: DisconnectPacket): void {
  const session = requireSession(conn);
  const expiry = packet.properties.sessionExpiryInterval;
  if (expiry !== undefined) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      throw new MqttError(
        ReasonCode.ProtocolError,
        'session expiry changed from 0 at DISCONNECT',
        'MQTT-3.14.2-2',
      );
    }
    session.expiryInterval = expiry;
    conn.broker.persistence?.noteSession(session);
  }
  if (conn.broker.debugLog) conn.broker.log.debug(`Received DISCONNECT from ${conn.logId}`);
  conn.close(
    packet.reasonCode === ReasonCode.DisconnectWithWillMessage
      ? CloseReason.DisconnectedWithWill
      : CloseReason.Disconnected,
  );
}
