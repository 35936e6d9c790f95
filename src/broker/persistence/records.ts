/**
 * The durable state of a broker as plain records, shaped like Mosquitto 2.1's persistence
 * events (`struct mosquitto_base_msg`, `mosquitto_client`, `mosquitto_client_msg`,
 * `mosquitto_subscription`, `mosquitto_will_msg`): what a store is told when something
 * changes, and what it hands back at start-up. Plain data with no broker objects in it,
 * so a store (ours, or a plugin's) never reaches into the broker.
 *
 * Times are absolute Unix seconds (0: none), as in both of Mosquitto's file formats, so a
 * deadline survives a restart whatever the monotonic clock did meanwhile.
 */
import { Buffer } from 'node:buffer';
import type { QoS } from '../../protocol/constants.ts';
import type { Properties } from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';

/** Mosquitto's `enum mosquitto_msg_direction`. */
export const MessageDirection = { In: 0, Out: 1 } as const;
export type MessageDirection = (typeof MessageDirection)[keyof typeof MessageDirection];

/**
 * Mosquitto's `enum mosquitto_msg_state`, the numbers written to both file formats.
 * Ours use Queued, PublishQos1/2 (to be sent), WaitForPuback, WaitForPubrec,
 * WaitForPubcomp (outgoing) and WaitForPubrel (incoming QoS 2 held until PUBREL).
 */
export const MessageState = {
  Invalid: 0,
  PublishQos0: 1,
  PublishQos1: 2,
  WaitForPuback: 3,
  PublishQos2: 4,
  WaitForPubrec: 5,
  ResendPubrel: 6,
  WaitForPubrel: 7,
  ResendPubcomp: 8,
  WaitForPubcomp: 9,
  SendPubrec: 10,
  Queued: 11,
} as const;
export type MessageState = (typeof MessageState)[keyof typeof MessageState];

/** A stored message (Mosquitto's base_msg), referred to by deliveries and retains. */
export interface BaseMessageRecord {
  /** Unique while the message is stored; Mosquitto's db_id. */
  readonly storeId: number;
  /** Absolute Unix seconds after which the message is dropped; 0 never. */
  readonly expiryTime: number;
  readonly topic: string;
  readonly payload: Buffer;
  /** The publishing client's id ("" for the broker itself). */
  readonly sourceId: string;
  readonly sourceUsername: string | null;
  /** The packet id it was published with (0 when unknown). */
  readonly sourceMid: number;
  /** Port of the listener it came in on (0 when unknown). */
  readonly sourcePort: number;
  readonly qos: QoS;
  readonly retain: boolean;
  /** Properties that travel with the message (PFI, content type, response topic, ...). */
  readonly properties: Properties;
}

/** A durable session (Mosquitto's client chunk / `clients` row). */
export interface ClientRecord {
  readonly clientId: string;
  readonly username: string | null;
  /** Absolute Unix seconds when the session expires if still disconnected; 0 none set. */
  readonly sessionExpiryTime: number;
  /** Seconds; 0xFFFFFFFF never. */
  readonly sessionExpiryInterval: number;
  /**
   * The last packet id handed out for outgoing messages. Mosquitto 2.1's SQLite schema has
   * no column for it: loaded from there it is the id of the client's last outgoing QoS 1/2
   * message, as 2.1's restore derives it.
   */
  readonly lastMid: number;
  readonly listenerPort: number;
  /** Absolute Unix seconds at which a delayed will goes out (0: none pending). */
  readonly willDelayTime: number;
  readonly willDelayInterval: number;
  /** The client's Maximum Packet Size (0: none). */
  readonly maxPacketSize: number;
  readonly maxQos: QoS;
  readonly retainAvailable: boolean;
}

/** A delivery of a stored message to (Out) or from (In) one client (client_msg). */
export interface ClientMessageRecord {
  readonly clientId: string;
  /**
   * Orders a client's messages: in flight before queued, then by arrival (Mosquitto 2.1's
   * cmsg_id). Unique per client and direction.
   */
  readonly cmsgId: number;
  readonly storeId: number;
  readonly mid: number;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly direction: MessageDirection;
  readonly state: MessageState;
  /** 0 for none. */
  readonly subscriptionId: number;
}

/** One subscription of a durable session (`$share/...` filters included). */
export interface SubscriptionRecord {
  readonly clientId: string;
  readonly topicFilter: string;
  /** MQTT 5 subscription options byte: QoS (bits 0-1), no-local (2), RAP (3), RH (4-5). */
  readonly options: number;
  /** 0 for none. */
  readonly identifier: number;
}

export interface RetainRecord {
  readonly topic: string;
  readonly storeId: number;
}

/**
 * The will of a durable session (only the SQLite store of Mosquitto 2.1 keeps these; its
 * schema has no room for a will's message expiry interval, which 2.1 loses too).
 */
export interface WillRecord {
  readonly clientId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: Properties;
}

/** Everything a store holds, as loaded at start-up or written by a full save. */
export interface DurableState {
  /** The highest storeId handed out so far (new ids continue after it). */
  lastStoreId: number;
  readonly baseMessages: BaseMessageRecord[];
  readonly clients: ClientRecord[];
  /** Per client, in the order they must be resent or delivered. */
  readonly clientMessages: ClientMessageRecord[];
  readonly subscriptions: SubscriptionRecord[];
  readonly retains: RetainRecord[];
  readonly wills: WillRecord[];
}

export function emptyDurableState(): DurableState {
  return {
    lastStoreId: 0,
    baseMessages: [],
    clients: [],
    clientMessages: [],
    subscriptions: [],
    retains: [],
    wills: [],
  };
}

/** A record whose fields a reader refills for each row or chunk. */
export type RefilledRecord<T> = { -readonly [K in keyof T]: T[K] };

const NO_PAYLOAD = Buffer.alloc(0);

/** A blank base message for a reader to refill (one object serves a whole load). */
export function blankBaseMessage(): RefilledRecord<BaseMessageRecord> {
  return {
    storeId: 0,
    expiryTime: 0,
    topic: '',
    payload: NO_PAYLOAD,
    sourceId: '',
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 0,
    qos: 0,
    retain: false,
    properties: EMPTY_PROPERTIES,
  };
}

/** A blank client message for a reader to refill. */
export function blankClientMessage(): RefilledRecord<ClientMessageRecord> {
  return {
    clientId: '',
    cmsgId: 0,
    storeId: 0,
    mid: 0,
    qos: 0,
    retain: false,
    dup: false,
    direction: MessageDirection.Out,
    state: MessageState.Queued,
    subscriptionId: 0,
  };
}

/**
 * What a store hands its state to at start-up, record by record as it reads them (the
 * broker builds its objects straight from them; tests collect them with StateCollector).
 * Base messages come before the retains and client messages that refer to them, and
 * clients before their client messages. A store may reuse one record object for every
 * call of a kind, and a payload may be a view of the store's whole read buffer: a sink
 * copies what it keeps.
 */
export interface DurableStateSink {
  /** The highest store id the store had handed out. */
  lastStoreId(storeId: number): void;
  baseMessage(record: BaseMessageRecord): void;
  /** The message stored as `storeId` is retained on its own topic (mosquitto.db). */
  retainOwnTopic(storeId: number): void;
  retain(record: RetainRecord): void;
  client(record: ClientRecord): void;
  clientMessage(record: ClientMessageRecord): void;
  /**
   * The last packet id of a client already read, for a store that derives it from the
   * client's messages after them (SQLite, as Mosquitto 2.1 does).
   */
  lastMid(clientId: string, mid: number): void;
  subscription(record: SubscriptionRecord): void;
  will(record: WillRecord): void;
}

/** A sink that keeps copies of the records: the state as a DurableState. */
export class StateCollector implements DurableStateSink {
  readonly state: DurableState = emptyDurableState();
  /** Topics by store id, for retainOwnTopic. */
  readonly #topics = new Map<number, string>();
  /** Where each client's record is in state.clients, for lastMid. */
  readonly #clients = new Map<string, number>();

  lastStoreId(storeId: number): void {
    this.state.lastStoreId = storeId;
  }

  baseMessage(record: BaseMessageRecord): void {
    this.#topics.set(record.storeId, record.topic);
    this.state.baseMessages.push({ ...record, payload: Buffer.from(record.payload) });
  }

  retainOwnTopic(storeId: number): void {
    const topic = this.#topics.get(storeId);
    if (topic !== undefined) this.state.retains.push({ topic, storeId });
  }

  retain(record: RetainRecord): void {
    this.state.retains.push({ ...record });
  }

  client(record: ClientRecord): void {
    this.#clients.set(record.clientId, this.state.clients.push({ ...record }) - 1);
  }

  clientMessage(record: ClientMessageRecord): void {
    this.state.clientMessages.push({ ...record });
  }

  lastMid(clientId: string, mid: number): void {
    const index = this.#clients.get(clientId);
    const client = index === undefined ? undefined : this.state.clients[index];
    if (index !== undefined && client !== undefined) {
      this.state.clients[index] = { ...client, lastMid: mid };
    }
  }

  subscription(record: SubscriptionRecord): void {
    this.state.subscriptions.push({ ...record });
  }

  will(record: WillRecord): void {
    this.state.wills.push({ ...record, payload: Buffer.from(record.payload) });
  }
}
