/**
 * AUTH from a client (MQTT 5 enhanced authentication): the answer to an AUTH (0x18) the
 * broker sent on a plugin's behalf during CONNECT. Anything else, re-authentication
 * included, is a protocol error, as it is without a plugin doing enhanced authentication.
 */
import type { AuthPacket } from '../../protocol/packets.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import type { ClientConnection } from '../client-connection.ts';

const CONTINUE_AUTHENTICATION = 0x18;

export function handleAuth(conn: ClientConnection, packet: AuthPacket): void {
  const pending = conn.pendingAuth;
  if (
    pending === null ||
    packet.reasonCode !== CONTINUE_AUTHENTICATION ||
    packet.properties.authenticationMethod !== pending.method
  ) {
    throw new MqttError(
      ReasonCode.ProtocolError,
      'AUTH outside an enhanced authentication',
      'MQTT-4.12.0-1',
    );
  }
  conn.pendingAuth = null;
  pending.resume(packet.properties.authenticationData ?? null);
}
