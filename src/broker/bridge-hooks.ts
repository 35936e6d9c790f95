/**
 * What the broker calls on bridges, as interfaces: the bridges themselves live in
 * broker/bridge/ (built on the client library), which the broker may not import. A bridge
 * is, as in Mosquitto, a local session (its `local_clientid`) whose connection is one we
 * opened to the remote broker; these hooks are the few places where such a connection or
 * session behaves differently from a client's.
 */
import type { ConnackPacket, SubackPacket, UnsubackPacket } from '../protocol/packets.ts';
import type { BrokerConfig } from './config/types.ts';
import type { ClientConnection } from './client-connection.ts';

/** The bridge side of a ClientConnection that we opened to a remote broker. */
export interface BridgeEndpoint {
  /** The `connection` name, for log lines. */
  readonly name: string;
  /**
   * `bridge_outgoing_retain`, lowered by the remote's Retain Available: false sends every
   * PUBLISH to the remote with RETAIN 0.
   */
  readonly retainAvailable: boolean;
  /** A topic received from the remote, as it is published locally (`in` prefixes). */
  topicIn(topic: string): string;
  /** A local topic as it is sent to the remote (`out` prefixes); the same string if unmapped. */
  topicOut(topic: string): string;
  onConnack(conn: ClientConnection, packet: ConnackPacket): void;
  onSuback(conn: ClientConnection, packet: SubackPacket): void;
  onUnsuback(conn: ClientConnection, packet: UnsubackPacket): void;
  onPingresp(conn: ClientConnection): void;
  /** The connection started closing (after the broker logged it and settled the session). */
  onClosed(conn: ClientConnection): void;
}

/**
 * How a bridge's local session queues while no connection is up (database.c's rules for
 * bridge contexts without a socket, and for those still connecting, which have one).
 */
export interface BridgeSessionPolicy {
  /** A connection to the remote is open and waiting for its CONNACK: everything is kept. */
  readonly connecting: boolean;
  /** `local_cleansession true`: nothing is queued while down. */
  readonly cleanStartLocal: boolean;
  /** `start_type lazy`: QoS 0 messages count too (they start the connection). */
  readonly lazy: boolean;
  /** A message was queued while down: a lazy bridge may now start (`threshold`). */
  queuedWhileDown(queued: number): void;
}

/** Where a bridge's link is: waiting to (re)connect, connecting, up, or stopped for good. */
export type BridgeLinkState = 'down' | 'connecting' | 'up' | 'stopped';

/** The broker's handle on all its bridges. */
export interface BridgeSupervisor {
  /** Each bridge's name and link state (for `/metrics`). */
  states(): { readonly name: string; readonly state: BridgeLinkState }[];
  /** Starts every configured bridge (after the listeners opened, as Mosquitto). */
  start(): void;
  /** SIGHUP: apply changed bridge settings per `bridge_reload_type`. */
  reload(config: BrokerConfig): void;
  /** Shutdown: close every bridge connection and stop reconnecting. */
  close(): void;
}
