import { ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import type { ClientConnection } from '../client-connection.ts';
import { ConnectionState } from '../client-connection.ts';
import type { Session } from '../session.ts';

/** The session of a Connected connection; anything else is a protocol error. */
export function requireSession(conn: ClientConnection): Session {
  const session = conn.session;
  if (conn.state !== ConnectionState.Connected || session === null) {
    throw new MqttError(
      ReasonCode.ProtocolError,
      'packet before CONNECT completed',
      'MQTT-3.1.0-1',
    );
  }
  return session;
}
