/**
 * AUTH from a client (MQTT 5 enhanced authentication, handle_auth.c): 0x18 answers an AUTH
 * the broker sent on a plugin's behalf, during CONNECT or a re-authentication; 0x19 from a
 * connected client whose CONNECT named an Authentication Method starts a re-authentication
 * [MQTT-4.12.1] through the same plugin events (extendedAuthStart with `reauthenticating`).
 * It ends with AUTH 0x00 and the plugin's data, or DISCONNECT 0x87 (denied) / 0x8C (no
 * plugin answered) and a close. Anything else is a protocol error (DISCONNECT 0x82).
 *
 * Unlike Mosquitto, which refuses every other packet while it waits for the client's
 * answer, the client goes on publishing and receiving with its earlier authentication
 * meanwhile, as the specification allows (DEVIATIONS.md).
 */
import type { Buffer } from 'node:buffer';
import type { AuthPacket } from '../../protocol/packets.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import { BrokerError } from '../broker-error.ts';
import type { ClientConnection } from '../client-connection.ts';
import { ConnectionState } from '../client-connection.ts';
import { CloseReason } from '../close-reason.ts';
import { pluginClientOf } from '../plugins/client.ts';
import * as send from '../send.ts';

const SUCCESS = 0x00;
const CONTINUE_AUTHENTICATION = 0x18;
const REAUTHENTICATE = 0x19;

export function handleAuth(conn: ClientConnection, packet: AuthPacket): void {
  if (packet.reasonCode === REAUTHENTICATE && conn.state === ConnectionState.Connected) {
    startReauthentication(conn, packet);
    return;
  }
  const pending = conn.pendingAuth;
  if (pending === null || packet.reasonCode !== CONTINUE_AUTHENTICATION) {
    throw protocolError('AUTH outside an enhanced authentication', 'MQTT-4.12.0-1');
  }
  checkMethod(conn, packet, pending.method);
  conn.pendingAuth = null;
  pending.resume(packet.properties.authenticationData ?? null);
}

function startReauthentication(conn: ClientConnection, packet: AuthPacket): void {
  const method = conn.authMethod;
  if (method === null) {
    throw protocolError(
      'AUTH 0x19 from a client that connected without an authentication method',
      'MQTT-4.12.1-1',
    );
  }
  if (conn.reauthentication !== null) {
    throw protocolError('AUTH 0x19 during a re-authentication', 'MQTT-4.12.1');
  }
  checkMethod(conn, packet, method);
  const attempt = { method };
  conn.reauthentication = attempt;
  reauthenticationStep(conn, attempt, 'start', packet.properties.authenticationData ?? null);
}

/**
 * One plugin step of a re-authentication. The answer may come after other packets of the
 * client were served; it is dropped if the connection closed or the attempt ended meanwhile.
 */
function reauthenticationStep(
  conn: ClientConnection,
  attempt: { readonly method: string },
  step: 'start' | 'continue',
  data: Buffer | null,
): void {
  const plugins = conn.broker.security.plugins;
  // (AUTH is decoded only when some plugin does enhanced authentication.)
  if (plugins === null) throw refused(ReasonCode.BadAuthenticationMethod, 'no plugin');
  const { method } = attempt;
  const event = { client: pluginClientOf(conn), method, data, reauthenticating: true };
  void plugins.extendedAuth(conn.listener.config, step, event).then((answer) => {
    if (conn.reauthentication !== attempt) return;
    conn.continueConnected(() => {
      switch (answer.result) {
        case 'allow':
          conn.reauthentication = null;
          send.auth(conn, SUCCESS, method, answer.data);
          return;
        case 'continue':
          conn.pendingAuth = {
            method,
            resume: (next) => {
              reauthenticationStep(conn, attempt, 'continue', next);
            },
          };
          send.auth(conn, CONTINUE_AUTHENTICATION, method, answer.data);
          return;
        case 'deny':
          throw refused(ReasonCode.NotAuthorized, 'not authorised');
        default:
          throw refused(ReasonCode.BadAuthenticationMethod, 'no plugin answered the method');
      }
    });
  });
}

/**
 * The AUTH must name the method being used [MQTT-4.12.1-1]. Mosquitto answers a missing
 * one with 0x80 once the client is connected, a different one with 0x82.
 */
function checkMethod(conn: ClientConnection, packet: AuthPacket, method: string): void {
  const named = packet.properties.authenticationMethod;
  if (named === undefined && conn.state === ConnectionState.Connected) {
    throw new BrokerError(
      ReasonCode.UnspecifiedError,
      'AUTH without an authentication method',
      'MQTT-4.12.1-1',
      CloseReason.ProtocolError,
    );
  }
  if (named !== method) {
    throw protocolError(`AUTH with another authentication method than ${method}`, 'MQTT-4.12.1-1');
  }
}

function protocolError(message: string, specRef: string): MqttError {
  return new MqttError(ReasonCode.ProtocolError, message, specRef);
}

/**
 * A failed re-authentication: DISCONNECT with the code, logged as Mosquitto logs it (its
 * handler returns MOSQ_ERR_PROTOCOL after sending the DISCONNECT).
 */
function refused(reasonCode: number, why: string): BrokerError {
  return new BrokerError(
    reasonCode,
    `re-authentication refused: ${why}`,
    'MQTT-4.12.1',
    CloseReason.ProtocolError,
  );
}
