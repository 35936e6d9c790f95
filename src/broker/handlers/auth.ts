/**
 * AUTH from a client. No authentication method is supported (a CONNECT naming one is
 * refused with 0x8C), so an AUTH can never be part of a valid exchange.
 */
import type { AuthPacket } from '../../protocol/packets.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import type { ClientConnection } from '../client-connection.ts';

export function handleAuth(_conn: ClientConnection, _packet: AuthPacket): void {
  throw new MqttError(
    ReasonCode.ProtocolError,
    'AUTH without an authentication method',
    'MQTT-4.12.0-1',
  );
}
