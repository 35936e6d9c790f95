/**
 * Why a client connection ended, and the line Mosquitto logs for it (do_disconnect()
 * in loop.c). The will is published for every reason except a normal DISCONNECT, a
 * takeover (handled by the new connection) and broker shutdown (handled separately).
 */

export const CloseReason = {
  /** DISCONNECT received. */
  Disconnected: 0,
  /** MQTT 5 DISCONNECT with reason 0x04: disconnect, but publish the will. */
  DisconnectedWithWill: 1,
  /** End of stream or reset from the client. */
  ConnectionLost: 2,
  MalformedPacket: 3,
  ProtocolError: 4,
  NotAuthorised: 5,
  KeepaliveTimeout: 6,
  OversizePacket: 7,
  OversizePayload: 8,
  /** QoS too high, retain not supported or bad AUTH method (at CONNECT). */
  NotSupported: 9,
  Administrative: 10,
  /** Another connection took the client id over. */
  TakenOver: 11,
  /** The broker is stopping. */
  Shutdown: 12,
  /** Anything else; the detail text is logged ("Bad socket read/write on client ..."). */
  Other: 13,
} as const;
export type CloseReason = (typeof CloseReason)[keyof typeof CloseReason];

/** The log line for a close, or null when Mosquitto logs none. */
export function closeLogLine(reason: CloseReason, clientId: string, detail: string): string | null {
  const id = clientId === '' ? '<unknown>' : clientId;
  switch (reason) {
    case CloseReason.Disconnected:
    case CloseReason.DisconnectedWithWill:
      return `Client ${id} disconnected.`;
    case CloseReason.ConnectionLost:
      return `Client ${id} closed its connection.`;
    case CloseReason.MalformedPacket:
      return `Client ${id} disconnected due to malformed packet.`;
    case CloseReason.ProtocolError:
      return `Client ${id} disconnected due to protocol error.`;
    case CloseReason.NotAuthorised:
      return `Client ${id} disconnected, not authorised.`;
    case CloseReason.KeepaliveTimeout:
      return `Client ${id} has exceeded timeout, disconnecting.`;
    case CloseReason.OversizePacket:
      return `Client ${id} disconnected due to oversize packet.`;
    case CloseReason.OversizePayload:
      return `Client ${id} disconnected due to oversize payload.`;
    case CloseReason.NotSupported:
      return `Client ${id} disconnected due to using not allowed feature (QoS too high, retain not supported, or bad AUTH method).`;
    case CloseReason.Administrative:
      return `Client ${id} been disconnected by administrative action.`;
    case CloseReason.TakenOver:
    case CloseReason.Shutdown:
      return null;
    case CloseReason.Other:
      return `Bad socket read/write on client ${id}: ${detail}`;
  }
}

/** Whether the session's will is published for this close. */
export function closePublishesWill(reason: CloseReason): boolean {
  return (
    reason !== CloseReason.Disconnected &&
    reason !== CloseReason.TakenOver &&
    reason !== CloseReason.Shutdown
  );
}
