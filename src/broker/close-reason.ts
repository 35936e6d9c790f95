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
  /** A socket error other than a reset; the detail is the system's text. */
  SocketError: 14,
} as const;
export type CloseReason = (typeof CloseReason)[keyof typeof CloseReason];

/** The log line for a close, or null when Mosquitto logs none. */
const REASON_NAMES = new Map<number, string>(
  Object.entries(CloseReason).map(([name, value]) => [value, name]),
);

/** The reason's name ("ConnectionLost"), for structured log fields. */
export function closeReasonName(reason: CloseReason): string {
  return REASON_NAMES.get(reason) ?? String(reason);
}

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
    case CloseReason.SocketError:
      return `Client ${id} disconnected: ${detail}.`;
  }
}

/** strerror() texts for the socket errors a client connection can end with. */
const SOCKET_ERROR_TEXT: Readonly<Record<string, string>> = {
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ENETDOWN: 'Network is down',
  ECONNABORTED: 'Software caused connection abort',
};

/**
 * How a transport error is reported: a reset or broken pipe is the client going away
 * ("closed its connection"), anything else is logged with the system's text.
 */
export function closeForSocketError(error: Error): [CloseReason, string] {
  const code = 'code' in error && typeof error.code === 'string' ? error.code : '';
  // (ECONNREFUSED: only a bridge's own connection attempt meets it.)
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED' || code === '') {
    return [CloseReason.ConnectionLost, ''];
  }
  return [CloseReason.SocketError, SOCKET_ERROR_TEXT[code] ?? error.message];
}

/** Whether the session's will is published for this close. */
export function closePublishesWill(reason: CloseReason): boolean {
  return (
    reason !== CloseReason.Disconnected &&
    reason !== CloseReason.TakenOver &&
    reason !== CloseReason.Shutdown
  );
}
