/**
 * RestoreBuilder: the broker's objects (StoredMessage, Session, Delivery, retained and
 * subscription entries) built straight from a store's records as the store reads them
 * (Mosquitto's persist__restore), with no copy of the whole state in between: a store of
 * millions of messages then costs the broker's objects and little else. What it builds
 * joins the registries only at commit(), once the store was read to its end, so a store
 * found unreadable half-way leaves the broker empty.
 *
 * Messages whose expiry passed while the broker was down are dropped, as are sessions
 * whose expiry passed (counted, as Mosquitto counts them in $SYS/broker/clients/expired).
 * Subscriptions and wills are applied at commit(), against every session read; a client
 * message met before its session or its base message waits, with the rest of that
 * client's, until then too (both stores send them after those, as Mosquitto writes them).
 */
import { Buffer } from 'node:buffer';
import type { QoS } from '../protocol/constants.ts';
import { ProtocolVersion } from '../protocol/constants.ts';
import { Delivery, DeliveryState } from './messages/delivery.ts';
import { NEVER_EXPIRES, StoredMessage } from './messages/stored-message.ts';
import type { LoadTarget } from './persistence/persistence.ts';
import { StoreIdIndex } from './persistence/store-id-index.ts';
import type {
  BaseMessageRecord,
  ClientMessageRecord,
  ClientRecord,
  RetainRecord,
  SubscriptionRecord,
  WillRecord,
} from './persistence/records.ts';
import { MessageDirection, MessageState } from './persistence/records.ts';
import type { DurableRegistries } from './durable-state.ts';
import type { SubscriptionOptions } from './router/subscription-tree.ts';
import { Session } from './session.ts';

/** What a restore leaves for the broker to schedule (expiry timers, delayed wills). */
export interface RestoredSessions {
  readonly sessions: Session[];
  /** Sessions whose expiry time had passed while the broker was down. */
  readonly expired: number;
  readonly wills: { clientId: string; message: StoredMessage; delaySeconds: number }[];
}

/**
 * Restored payloads are copied into shared slabs rather than into Buffers of their own
 * (StoredMessage.payloadIn): two million payloads are then a few thousand objects. A slab
 * stays alive while one of its messages does; larger payloads get a Buffer to themselves.
 */
const SLAB_BYTES = 64 * 1024;

export class RestoreBuilder implements LoadTarget {
  highestStoreId = 0;
  /** Base messages, clients, retains and subscriptions read (an empty journal has none). */
  #records = 0;
  #expired = 0;
  readonly #registries: DurableRegistries;
  /** Durable holders are counted on each message (storeRefs) only while events are on. */
  readonly #countHolders: boolean;
  readonly #now: number;
  readonly #wall: number;
  /** null: the message had expired. */
  readonly #messages = new StoreIdIndex<StoredMessage | null>();
  /** null: the session had expired or has no client id. */
  readonly #sessions = new Map<string, Session | null>();
  readonly #restored: Session[] = [];
  readonly #retainTopics: string[] = [];
  readonly #retainMessages: StoredMessage[] = [];
  readonly #subscriptions: SubscriptionRecord[] = [];
  /** Client messages waiting for their session or base message, by client id. */
  readonly #waiting = new Map<string, ClientMessageRecord[]>();
  readonly #wills: WillRecord[] = [];
  /** Will delay time and interval of the client records that have them. */
  readonly #willDelays = new Map<string, [number, number]>();
  #slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  #slabUsed = 0;
  /** The last topic and source id kept: a queue's messages share one string. */
  #topic = '';
  #sourceId = '';

  constructor(registries: DurableRegistries, countHolders: boolean) {
    this.#registries = registries;
    this.#countHolders = countHolders;
    this.#now = registries.clock.now();
    this.#wall = registries.clock.wallSeconds();
  }

  get isEmpty(): boolean {
    return this.#records === 0;
  }

  lastStoreId(storeId: number): void {
    if (storeId > this.highestStoreId) this.highestStoreId = storeId;
  }

  baseMessage(record: BaseMessageRecord): void {
    this.#records++;
    const storeId = record.storeId;
    if (storeId > this.highestStoreId) this.highestStoreId = storeId;
    const expiryTime = record.expiryTime;
    if (expiryTime !== 0 && expiryTime <= this.#wall) {
      this.#messages.set(storeId, null);
      return;
    }
    let topic = record.topic;
    if (topic === this.#topic) topic = this.#topic;
    else this.#topic = topic;
    let sourceId = record.sourceId;
    if (sourceId === this.#sourceId) sourceId = this.#sourceId;
    else this.#sourceId = sourceId;
    const payload = record.payload;
    const length = payload.length;
    const inSlab = length > 0 && length <= SLAB_BYTES / 4;
    const message = new StoredMessage(
      topic,
      inSlab || length === 0 ? StoredMessage.NO_PAYLOAD : Buffer.from(payload),
      record.qos,
      record.retain,
      record.properties,
      expiryTime === 0 ? NEVER_EXPIRES : this.#now + (expiryTime - this.#wall) * 1000,
      sourceId,
      record.sourceUsername,
    );
    if (inSlab) {
      if (this.#slabUsed + length > SLAB_BYTES) {
        this.#slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
        this.#slabUsed = 0;
      }
      // TypedArray set: Buffer.copy's argument checks cost more than a short copy.
      this.#slab.set(payload, this.#slabUsed);
      message.payloadIn(this.#slab, this.#slabUsed, length);
      this.#slabUsed += length;
    }
    message.storeId = storeId;
    this.#messages.set(storeId, message);
  }

  retain(record: RetainRecord): void {
    this.#records++;
    const message = this.#reference(record.storeId);
    if (message === undefined || message.payloadLength === 0) return;
    // The message's own topic string when it is the same text (it always is in our files).
    this.#retainTopics.push(record.topic === message.topic ? message.topic : record.topic);
    this.#retainMessages.push(message);
  }

  retainOwnTopic(storeId: number): void {
    this.#records++;
    const message = this.#reference(storeId);
    if (message === undefined || message.payloadLength === 0) return;
    this.#retainTopics.push(message.topic);
    this.#retainMessages.push(message);
  }

  client(record: ClientRecord): void {
    this.#records++;
    const clientId = record.clientId;
    if (record.willDelayTime !== 0 || record.willDelayInterval !== 0) {
      this.#willDelays.set(clientId, [record.willDelayTime, record.willDelayInterval]);
    } else if (this.#willDelays.size > 0) {
      this.#willDelays.delete(clientId);
    }
    const known = this.#sessions.get(clientId);
    if (clientId === '') {
      this.#sessions.set(clientId, null);
      return;
    }
    if (record.sessionExpiryTime !== 0 && record.sessionExpiryTime <= this.#wall) {
      this.#expired++;
      if (known === undefined) this.#sessions.set(clientId, null);
      return;
    }
    let session = known ?? null;
    if (session === null) {
      session = new Session(clientId, ProtocolVersion.V311);
      session.cleanStart = false;
      session.persisted = true;
      this.#sessions.set(clientId, session);
      this.#restored.push(session);
    }
    session.username = record.username;
    session.expiryInterval = record.sessionExpiryInterval;
    session.expiryWallTime = record.sessionExpiryTime;
    session.packetIds.last = record.lastMid;
    session.listenerPort = record.listenerPort;
    session.maxQos = record.maxQos;
  }

  clientMessage(record: ClientMessageRecord): void {
    const waiting = this.#waiting.size === 0 ? undefined : this.#waiting.get(record.clientId);
    if (waiting !== undefined) {
      waiting.push({ ...record });
      return;
    }
    const session = this.#sessions.get(record.clientId);
    const message = this.#messages.get(record.storeId);
    if (session === null || message === null) return;
    if (session === undefined || message === undefined) {
      this.#waiting.set(record.clientId, [{ ...record }]);
      return;
    }
    this.#addClientMessage(session, message, record);
  }

  lastMid(clientId: string, mid: number): void {
    const session = this.#sessions.get(clientId);
    if (session != null) session.packetIds.last = mid;
  }

  subscription(record: SubscriptionRecord): void {
    this.#records++;
    this.#subscriptions.push({ ...record });
  }

  will(record: WillRecord): void {
    this.#wills.push({ ...record, payload: Buffer.from(record.payload) });
  }

  /** Fills the registries with everything read. */
  commit(): RestoredSessions {
    const registries = this.#registries;
    for (const session of this.#restored) registries.sessions.set(session.clientId, session);
    for (const record of this.#subscriptions) {
      const session = this.#sessions.get(record.clientId);
      if (session == null) continue;
      const options = optionsFromByte(record.options, record.identifier);
      // A subscription identifier only exists in MQTT 5: the session was one.
      if (record.identifier !== 0) session.protocolVersion = ProtocolVersion.V5;
      const { entry } = registries.subscriptions.add(session, record.topicFilter, options);
      session.subscriptions.set(record.topicFilter, entry);
    }
    const topics = this.#retainTopics;
    const retained = this.#retainMessages;
    for (let i = 0; i < topics.length; i++) {
      registries.retained.set(topics[i] as string, retained[i] as StoredMessage);
    }
    for (const [clientId, records] of this.#waiting) {
      const session = this.#sessions.get(clientId);
      if (session == null) continue;
      for (const record of records) {
        const message = this.#messages.get(record.storeId);
        if (message != null) this.#addClientMessage(session, message, record);
      }
    }
    return { sessions: this.#restored, expired: this.#expired, wills: this.#restoreWills() };
  }

  #reference(storeId: number): StoredMessage | undefined {
    const message = this.#messages.get(storeId);
    if (message == null) return undefined;
    if (this.#countHolders) message.storeRefs++;
    return message;
  }

  #addClientMessage(session: Session, message: StoredMessage, record: ClientMessageRecord): void {
    if (this.#countHolders) message.storeRefs++;
    if (record.direction === MessageDirection.In) {
      if (record.qos === 2 && !session.incoming.has(record.mid)) {
        session.incoming.set(record.mid, message);
      } else if (this.#countHolders) {
        message.storeRefs--;
      }
      return;
    }
    const delivery = new Delivery(
      message,
      record.qos,
      record.retain,
      record.subscriptionId,
      record.mid,
    );
    delivery.dup = record.dup;
    const state = inflightState(record.state);
    if (state === DeliveryState.Queued || record.mid === 0 || session.inflight.has(record.mid)) {
      session.queue.push(delivery);
    } else {
      delivery.state = state;
      session.inflight.set(record.mid, delivery);
      session.inflightBytes += message.payloadLength;
    }
  }

  #restoreWills(): RestoredSessions['wills'] {
    const wills: RestoredSessions['wills'] = [];
    for (const record of this.#wills) {
      const session = this.#sessions.get(record.clientId);
      if (session == null) continue;
      const message = new StoredMessage(
        record.topic,
        record.payload,
        record.qos,
        record.retain,
        record.properties,
        NEVER_EXPIRES,
        record.clientId,
        session.username,
      );
      // The connection ended while the broker was down, or its delay was running: the will
      // goes out when its delay (counted from the wall clock) runs out.
      const [time, interval] = this.#willDelays.get(record.clientId) ?? [0, 0];
      const delay = time !== 0 ? Math.max(0, time - this.#wall) : interval;
      wills.push({ clientId: record.clientId, message, delaySeconds: delay });
    }
    return wills;
  }
}

export function optionsFromByte(options: number, identifier: number): SubscriptionOptions {
  const qos = (options & 0x03) as QoS;
  return {
    qos: qos > 2 ? 2 : qos,
    noLocal: (options & 0x04) !== 0,
    retainAsPublished: (options & 0x08) !== 0,
    retainHandling: ((options >> 4) & 0x03) as 0 | 1 | 2,
    subscriptionId: identifier,
  };
}

function inflightState(state: MessageState): DeliveryState {
  switch (state) {
    case MessageState.WaitForPuback:
      return DeliveryState.AwaitPuback;
    case MessageState.WaitForPubrec:
      return DeliveryState.AwaitPubrec;
    case MessageState.WaitForPubcomp:
    case MessageState.ResendPubrel:
      return DeliveryState.AwaitPubcomp;
    case MessageState.PublishQos1:
    case MessageState.PublishQos2:
    case MessageState.Queued:
    default:
      return DeliveryState.Queued;
  }
}
