/**
 * The one dispatch: each decoded packet goes to its handler, and every MqttError thrown
 * by the decoder or a handler is turned into what Mosquitto puts on the wire (a CONNACK
 * refusal, an MQTT 5 DISCONNECT with the reason code, or a plain close for 3.x) and the
 * line it logs (read_handle.c, handle_connect.c, loop.c do_disconnect()).
 */
import type { Packet } from '../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../protocol/packets.ts';
import { PacketType, ProtocolVersion, ReasonCode } from '../protocol/constants.ts';
import { MqttError } from '../protocol/errors.ts';
import { BrokerError } from './broker-error.ts';
import type { ClientConnection } from './client-connection.ts';
import { ConnectionState } from './client-connection.ts';
import { CloseReason } from './close-reason.ts';
import { handleAuth } from './handlers/auth.ts';
import { handleConnect } from './handlers/connect.ts';
import { handleDisconnect } from './handlers/disconnect.ts';
import { handlePingreq } from './handlers/pingreq.ts';
import { handlePuback } from './handlers/puback.ts';
import { handlePubcomp } from './handlers/pubcomp.ts';
import { handlePublish } from './handlers/publish.ts';
import { handlePubrec } from './handlers/pubrec.ts';
import { handlePubrel } from './handlers/pubrel.ts';
import { handleSubscribe } from './handlers/subscribe.ts';
import { handleUnsubscribe } from './handlers/unsubscribe.ts';
import * as send from './send.ts';

export function dispatchPacket(conn: ClientConnection, packet: Packet): void {
  switch (packet.type) {
    case PacketType.Publish:
      handlePublish(conn, packet);
      return;
    case PacketType.Puback:
      handlePuback(conn, packet);
      return;
    case PacketType.Pubrec:
      handlePubrec(conn, packet);
      return;
    case PacketType.Pubrel:
      handlePubrel(conn, packet);
      return;
    case PacketType.Pubcomp:
      handlePubcomp(conn, packet);
      return;
    case PacketType.Pingreq:
      handlePingreq(conn);
      return;
    case PacketType.Subscribe:
      if (conn.bridge !== null) throw clientOnlyPacket();
      handleSubscribe(conn, packet);
      return;
    case PacketType.Unsubscribe:
      if (conn.bridge !== null) throw clientOnlyPacket();
      handleUnsubscribe(conn, packet);
      return;
    case PacketType.Connect:
      if (conn.bridge !== null) throw clientOnlyPacket();
      handleConnect(conn, packet);
      return;
    case PacketType.Disconnect:
      handleDisconnect(conn, packet);
      return;
    case PacketType.Auth:
      handleAuth(conn, packet);
      return;
    case PacketType.Connack:
      if (conn.bridge === null) throw serverOnlyPacket();
      conn.bridge.onConnack(conn, packet);
      return;
    case PacketType.Suback:
      if (conn.bridge === null) throw serverOnlyPacket();
      conn.bridge.onSuback(conn, packet);
      return;
    case PacketType.Unsuback:
      if (conn.bridge === null) throw serverOnlyPacket();
      conn.bridge.onUnsuback(conn, packet);
      return;
    case PacketType.Pingresp:
      if (conn.bridge === null) throw serverOnlyPacket();
      conn.bridge.onPingresp(conn);
      return;
  }
}

/** Server-to-client packets from a client (2.0.12+ closes the connection). */
function serverOnlyPacket(): MqttError {
  return new MqttError(ReasonCode.ProtocolError, 'server-only packet from a client', 'MQTT-4.8');
}

/** Client-to-server packets from the remote broker of a bridge. */
function clientOnlyPacket(): MqttError {
  return new MqttError(ReasonCode.ProtocolError, 'client-only packet from a server', 'MQTT-4.8');
}

/**
 * The CONNACK code Mosquitto answers a refused CONNECT with, or -1 when it closes
 * without one. Note the quirks kept: a bad client id is 0x80 (not 0x85) in MQTT 5, and
 * "not authorised" is 5 / 0x87 (not 4 / 0x86).
 */
function connackCode(version: ProtocolVersion, reasonCode: number): number {
  if (version === ProtocolVersion.V5) {
    switch (reasonCode) {
      case ReasonCode.ClientIdentifierNotValid:
      case ReasonCode.UnspecifiedError:
        return ReasonCode.UnspecifiedError;
      case ReasonCode.NotAuthorized:
      case ReasonCode.BadUserNameOrPassword:
      case ReasonCode.ServerUnavailable:
      case ReasonCode.BadAuthenticationMethod:
      case ReasonCode.PacketTooLarge:
      case ReasonCode.RetainNotSupported:
      case ReasonCode.QoSNotSupported:
        return reasonCode;
      default:
        return -1;
    }
  }
  switch (reasonCode) {
    case ReasonCode.ClientIdentifierNotValid:
      return 2;
    case ReasonCode.ServerUnavailable:
      return 3;
    case ReasonCode.BadUserNameOrPassword:
      return 4;
    case ReasonCode.NotAuthorized:
    case ReasonCode.PacketTooLarge:
      return 5;
    default:
      return -1;
  }
}

/** The close log reason for a reason code (MOSQ_ERR_* -> do_disconnect() line). */
function closeReasonFor(reasonCode: number, duringConnect: boolean): [CloseReason, string] {
  switch (reasonCode) {
    case ReasonCode.MalformedPacket:
      return [CloseReason.MalformedPacket, ''];
    case ReasonCode.NotAuthorized:
    case ReasonCode.BadUserNameOrPassword:
      return [CloseReason.NotAuthorised, ''];
    case ReasonCode.PacketTooLarge:
      return [CloseReason.OversizePacket, ''];
    case ReasonCode.QoSNotSupported:
      return duringConnect
        ? [CloseReason.NotSupported, '']
        : [CloseReason.Other, 'Requested QoS not supported on server.'];
    case ReasonCode.RetainNotSupported:
      return duringConnect ? [CloseReason.NotSupported, ''] : [CloseReason.Other, 'Unknown error.'];
    case ReasonCode.BadAuthenticationMethod:
      return [CloseReason.NotSupported, ''];
    case ReasonCode.TopicAliasInvalid:
      return [CloseReason.Other, 'Unknown error.'];
    case ReasonCode.AdministrativeAction:
      return [CloseReason.Administrative, ''];
    default:
      return [CloseReason.ProtocolError, ''];
  }
}

/** MQTT 5 DISCONNECT reason codes Mosquitto sends for errors after CONNECT. */
function disconnectCode(reasonCode: number): number {
  switch (reasonCode) {
    case ReasonCode.MalformedPacket:
    case ReasonCode.ProtocolError:
    case ReasonCode.QoSNotSupported:
    case ReasonCode.RetainNotSupported:
    case ReasonCode.TopicAliasInvalid:
    case ReasonCode.PacketTooLarge:
    case ReasonCode.AdministrativeAction:
    case ReasonCode.NotAuthorized:
    case ReasonCode.BadAuthenticationMethod: // a re-authentication no plugin answers
      return reasonCode;
    case ReasonCode.UnsupportedProtocolVersion:
      return ReasonCode.ProtocolError;
    default:
      return reasonCode >= 0x80 ? ReasonCode.UnspecifiedError : -1;
  }
}

/** The spec reference of the decoder's fixed-header size errors (remaining length rules). */
const FIXED_HEADER_SPEC_REF = 'MQTT-2.1.4';

/** The single place where a protocol error becomes wire bytes, a log line and a close. */
export function handleProtocolError(conn: ClientConnection, error: MqttError): void {
  if (conn.state >= ConnectionState.Closing) return;
  const code = error.reasonCode;
  // (A bridge's connection awaits a CONNACK, not a CONNECT: nothing to refuse.)
  const duringConnect = conn.state === ConnectionState.AwaitingConnect && conn.bridge === null;
  let [reason, detail] = closeReasonFor(code, duringConnect);
  // Mosquitto answers nothing for errors its packet reader finds in the fixed header (a
  // remaining length over 4 bytes, a PINGREQ with a body), which our decoder tags with
  // MQTT-2.1.4, nor for a second CONNECT; everything else found by a handler gets a
  // DISCONNECT (MQTT 5).
  let quiet = error.specRef === FIXED_HEADER_SPEC_REF;
  if (error instanceof BrokerError) {
    reason = error.closeReason;
    detail = error.detail;
    quiet = error.quiet;
  }
  if (quiet) {
    // Nothing on the wire.
  } else if (duringConnect) {
    if (code === ReasonCode.UnsupportedProtocolVersion) {
      // [MQTT-3.1.2-2] return code 1 in the 3.1.1 layout, whatever level was asked for.
      if (conn.broker.config.log.connectionMessages) {
        conn.broker.log.info(
          `Invalid protocol version ${conn.requestedProtocolLevel()} in CONNECT from ${conn.transport.remoteAddress}.`,
        );
      }
      send.connackUnsupportedVersion(conn);
    } else if (conn.connectDecoded) {
      const connack = connackCode(conn.protocolVersion, code);
      if (connack >= 0) send.connack(conn, false, connack, EMPTY_PROPERTIES);
    }
  } else if (conn.protocolVersion === ProtocolVersion.V5 && conn.bridge === null) {
    // (A bridge just closes: the DISCONNECT Mosquitto queues there never leaves, as its
    // socket is closed at once; Mosquitto's 06-bridge-remap-receive-wildcard expects that.)
    const disconnect = disconnectCode(code);
    if (disconnect >= 0) send.disconnect(conn, disconnect);
  }
  conn.close(reason, detail);
}
