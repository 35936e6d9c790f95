/**
 * Session: what survives a connection (MQTT's "session state"): subscriptions, the
 * outgoing in-flight window and queue, incoming QoS 2 messages awaiting PUBREL, the
 * packet id allocator and the expiry settings. A ClientConnection attaches to a session
 * after CONNECT and detaches when it closes; a durable session waits for the client to
 * come back (or for its expiry timer).
 */
import type { ProtocolVersion, QoS } from '../protocol/constants.ts';
import type { TimerHandle } from '../common/clock.ts';
import type { Subscriber, SubscriptionEntry } from './router/subscription-tree.ts';
import type { ClientConnection } from './client-connection.ts';
import type { Delivery } from './messages/delivery.ts';
import { DeliveryQueue } from './messages/delivery-queue.ts';
import { PacketIdAllocator } from './messages/packet-id.ts';
import type { StoredMessage } from './messages/stored-message.ts';
import type { BridgeSessionPolicy } from './bridge-hooks.ts';
import type { SessionBinding } from './security/broker-security.ts';
import type { ListenerConfig } from './config/types.ts';

/** Session Expiry Interval meaning "never" (also what a v3 clean session 0 gets). */
export const SESSION_NEVER_EXPIRES = 0xffffffff;

/** The will of a session: a message published if the connection ends abnormally. */
export interface SessionWill {
  readonly message: StoredMessage;
  /** Will Delay Interval in seconds (MQTT 5), 0 for none. */
  readonly delaySeconds: number;
}

const NO_ENTRIES: ReadonlyMap<never, never> = new Map<never, never>();

/**
 * The Map operations a session uses, with the table allocated on the first insertion and
 * dropped by clear(): most connected clients never subscribe, publish QoS 2 or have a
 * message in flight, and an empty Map costs more memory than this wrapper.
 */
export class LazyMap<K, V> {
  #map: Map<K, V> | null = null;

  get size(): number {
    return this.#map === null ? 0 : this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map === null ? undefined : this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map !== null && this.#map.has(key);
  }

  set(key: K, value: V): this {
    (this.#map ??= new Map<K, V>()).set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.#map !== null && this.#map.delete(key);
  }

  clear(): void {
    this.#map = null;
  }

  keys(): MapIterator<K> {
    return (this.#map ?? (NO_ENTRIES as ReadonlyMap<K, V>)).keys();
  }

  values(): MapIterator<V> {
    return (this.#map ?? (NO_ENTRIES as ReadonlyMap<K, V>)).values();
  }

  entries(): MapIterator<[K, V]> {
    return (this.#map ?? (NO_ENTRIES as ReadonlyMap<K, V>)).entries();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
}

export class Session implements Subscriber {
  readonly clientId: string;
  /** The attached connection, only while it is Connected. */
  connection: ClientConnection | null = null;
  protocolVersion: ProtocolVersion;
  /** The 0x80 bit of a 3.1/3.1.1 CONNECT: a bridge (implicit no-local, RAP). */
  isBridge = false;
  /** Set on the local session of a bridge of ours: how it queues while the link is down. */
  bridge: BridgeSessionPolicy | null = null;
  username: string | null = null;
  /** Clean Session / Clean Start of the last CONNECT. */
  cleanStart = true;
  /** Seconds; 0 ends with the connection, SESSION_NEVER_EXPIRES never. */
  expiryInterval = 0;
  /** Listener max_qos of the last connection. */
  maxQos: QoS = 2;

  readonly subscriptions = new LazyMap<string, SubscriptionEntry<Session>>();

  /** Outgoing QoS 1/2 messages with a packet id, in the order they were sent. */
  readonly inflight = new LazyMap<number, Delivery>();
  /** Payload bytes of `inflight` (for max_inflight_bytes). */
  inflightBytes = 0;
  /** In-flight limit: the client's Receive Maximum, else max_inflight_messages; 0 none. */
  inflightMaximum = 0;
  readonly queue = new DeliveryQueue();
  /**
   * Deliveries waiting for a plugin's asynchronous read check, in order (outgoing.ts
   * holdForAcl); null while none waits.
   */
  aclHeld: Delivery[] | null = null;
  readonly packetIds = new PacketIdAllocator();
  /** Incoming QoS 2 messages between PUBREC and PUBREL (routed on PUBREL), by packet id. */
  readonly incoming = new LazyMap<number, StoredMessage>();
  /**
   * Ids in `incoming` whose PUBLISH already came a second time: a third copy before
   * PUBREL is a protocol error (Mosquitto 2.0.16+, CVE-2023-28366). An entry left after
   * PUBREL is harmless: it is dropped when the id is next held.
   */
  readonly incomingResent = new LazyMap<number, boolean>();

  will: SessionWill | null = null;
  /**
   * The listener the client was last admitted through, whose security settings apply to
   * it (null for a session restored from a store and not connected since).
   */
  securityListener: ListenerConfig | null = null;
  /** Port of the listener of the last connection (kept by persistence). */
  listenerPort = 0;
  /** Persistence holds this session (it survives its connection); see Persistence. */
  persisted = false;
  /** Wall-clock second at which the disconnected session expires (0: none set). */
  expiryWallTime = 0;
  /** Wall-clock second at which its delayed will goes out (0: none waiting). */
  willWallTime = 0;
  expiryTimer: TimerHandle | null = null;
  /** "Outgoing messages are being dropped" was logged since the last connect. */
  isDropping = false;

  /**
   * What BrokerSecurity keeps for this session's ACL checks: made from securityListener on
   * the first check that needs it (null until then, and again after each admission).
   */
  securityBinding: SessionBinding | null = null;

  /** Routing scratch: the route that last saw this session and its slot there. */
  routeEpoch = 0;
  routeSlot = 0;

  constructor(clientId: string, protocolVersion: ProtocolVersion) {
    this.clientId = clientId;
    this.protocolVersion = protocolVersion;
  }

  get isOnline(): boolean {
    return this.connection !== null;
  }
}
