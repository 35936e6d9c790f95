/**
 * The broker's durable state to and from records (persistence/records.ts): a snapshot
 * of everything a store keeps (for mosquitto.db saves and for filling a journal), and the
 * restore at start-up (Mosquitto's persist__restore). Works on the registries the broker
 * hands over, not on the Broker itself, so persistence does not join broker.ts's circle.
 */
import type { Clock } from '../common/clock.ts';
import type { QoS } from '../protocol/constants.ts';
import { ProtocolVersion } from '../protocol/constants.ts';
import { Delivery, DeliveryState } from './messages/delivery.ts';
import { NEVER_EXPIRES, StoredMessage } from './messages/stored-message.ts';
import type { Persistence } from './persistence/persistence.ts';
import { STATE_OF_DELIVERY } from './persistence/record-builder.ts';
import { StoreIdIndex } from './persistence/store-id-index.ts';
import type {
  BaseMessageRecord,
  ClientMessageRecord,
  DurableState,
  RetainRecord,
  SubscriptionRecord,
  WillRecord,
} from './persistence/records.ts';
import { MessageDirection, MessageState } from './persistence/records.ts';
import type { RetainStore } from './router/retain-store.ts';
import type { SubscriptionOptions, SubscriptionTree } from './router/subscription-tree.ts';
import { Session } from './session.ts';

/** What a snapshot reads and a restore fills. */
export interface DurableRegistries {
  readonly sessions: Map<string, Session>;
  readonly subscriptions: SubscriptionTree<Session>;
  readonly retained: RetainStore<StoredMessage>;
  readonly clock: Clock;
}

/** Everything the stores keep: durable sessions with their messages, retained messages. */
export function snapshotState(
  registries: DurableRegistries,
  persistence: Persistence,
): DurableState {
  const baseMessages: BaseMessageRecord[] = [];
  const seen = new Set<StoredMessage>();
  const addMessage = (message: StoredMessage): number => {
    const storeId = persistence.records.storeIdOf(message);
    if (!seen.has(message)) {
      seen.add(message);
      baseMessages.push(persistence.records.baseMessageRecord(message));
    }
    return storeId;
  };
  const clients = [];
  const clientMessages: ClientMessageRecord[] = [];
  const subscriptions: SubscriptionRecord[] = [];
  const wills: WillRecord[] = [];
  let cmsgId = 1;
  for (const session of registries.sessions.values()) {
    if (!session.persisted) continue;
    clients.push(persistence.records.clientRecord(session));
    const clientId = session.clientId;
    for (const [mid, message] of session.incoming) {
      clientMessages.push({
        clientId,
        cmsgId: cmsgId++,
        storeId: addMessage(message),
        mid,
        qos: message.qos,
        retain: message.retain,
        dup: false,
        direction: MessageDirection.In,
        state: MessageState.WaitForPubrel,
        subscriptionId: 0,
      });
    }
    const outgoing = (delivery: Delivery): void => {
      clientMessages.push({
        clientId,
        cmsgId: cmsgId++,
        storeId: addMessage(delivery.message),
        mid: delivery.packetId,
        qos: delivery.qos,
        retain: delivery.retain,
        dup: delivery.dup,
        direction: MessageDirection.Out,
        state: STATE_OF_DELIVERY[delivery.state] ?? MessageState.Queued,
        subscriptionId: delivery.subscriptionId,
      });
    };
    for (const delivery of session.inflight.values()) outgoing(delivery);
    for (const delivery of session.queue) outgoing(delivery);
    for (const [filter, entry] of session.subscriptions) {
      subscriptions.push(persistence.records.subscriptionRecord(clientId, filter, entry.options));
    }
    const will = session.will;
    if (will !== null) {
      wills.push({
        clientId,
        topic: will.message.topic,
        payload: will.message.payload,
        qos: will.message.qos,
        retain: will.message.retain,
        properties: will.message.properties,
      });
    }
  }
  const retains: RetainRecord[] = [];
  registries.retained.forEach((topic, message) => {
    // $SYS retained messages describe the broker that wrote them: never saved (Mosquitto).
    if (topic.startsWith('$SYS')) return;
    retains.push({ topic, storeId: addMessage(message) });
  }, null);
  persistence.records.nextCmsgId = Math.max(persistence.records.nextCmsgId, cmsgId);
  return {
    lastStoreId: persistence.records.lastStoreId,
    baseMessages,
    clients,
    clientMessages,
    subscriptions,
    retains,
    wills,
  };
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

/** What a restore leaves for the broker to schedule (expiry timers, delayed wills). */
export interface RestoredSessions {
  readonly sessions: Session[];
  /** Sessions whose expiry time had passed while the broker was down. */
  readonly expired: number;
  readonly wills: { clientId: string; message: StoredMessage; delaySeconds: number }[];
}

/**
 * Fills the registries from a loaded state (and consumes it: its message lists are emptied). Messages whose expiry passed while the broker
 * was down are dropped, as are sessions whose expiry passed (counted, as Mosquitto
 * counts them in $SYS/broker/clients/expired).
 */
export function restoreState(
  registries: DurableRegistries,
  persistence: Persistence,
  state: DurableState,
): RestoredSessions {
  const clock = registries.clock;
  const now = clock.now();
  const wall = clock.wallSeconds();
  // Durable holders of each message are counted on the message itself (storeRefs).
  const messages = new StoreIdIndex<StoredMessage>(state.baseMessages.length);
  const reference = (storeId: number): StoredMessage | undefined => {
    const message = messages.get(storeId);
    if (message !== undefined) message.storeRefs++;
    return message;
  };
  const restoredMessages: StoredMessage[] = [];
  for (const record of state.baseMessages) {
    if (record.expiryTime !== 0 && record.expiryTime <= wall) continue;
    const message = new StoredMessage(
      record.topic,
      record.payload,
      record.qos,
      record.retain,
      record.properties,
      record.expiryTime === 0 ? NEVER_EXPIRES : now + (record.expiryTime - wall) * 1000,
      record.sourceId,
      record.sourceUsername,
    );
    message.storeId = record.storeId;
    messages.set(record.storeId, message);
    restoredMessages.push(message);
  }
  // The records are consumed: let the million-message case shed them before the next phase.
  state.baseMessages.length = 0;
  for (const retain of state.retains) {
    const message = reference(retain.storeId);
    if (message === undefined || message.payloadLength === 0) continue;
    registries.retained.set(retain.topic, message);
  }
  const sessions: Session[] = [];
  let expired = 0;
  const byId = new Map<string, Session>();
  for (const client of state.clients) {
    if (client.clientId === '') continue;
    if (client.sessionExpiryTime !== 0 && client.sessionExpiryTime <= wall) {
      expired++;
      continue;
    }
    const session = new Session(client.clientId, ProtocolVersion.V311);
    session.cleanStart = false;
    session.username = client.username;
    session.expiryInterval = client.sessionExpiryInterval;
    session.expiryWallTime = client.sessionExpiryTime;
    session.packetIds.last = client.lastMid;
    session.listenerPort = client.listenerPort;
    session.maxQos = client.maxQos;
    session.persisted = true;
    registries.sessions.set(session.clientId, session);
    byId.set(session.clientId, session);
    sessions.push(session);
  }
  for (const record of state.subscriptions) {
    const session = byId.get(record.clientId);
    if (session === undefined) continue;
    const options = optionsFromByte(record.options, record.identifier);
    // A subscription identifier only exists in MQTT 5: the session was one.
    if (record.identifier !== 0) session.protocolVersion = ProtocolVersion.V5;
    const { entry } = registries.subscriptions.add(session, record.topicFilter, options);
    session.subscriptions.set(record.topicFilter, entry);
  }
  for (const record of state.clientMessages) {
    const session = byId.get(record.clientId);
    if (session === undefined) continue;
    const message = reference(record.storeId);
    if (message === undefined) continue;
    if (record.direction === MessageDirection.In) {
      if (record.qos === 2 && !session.incoming.has(record.mid)) {
        session.incoming.set(record.mid, message);
      } else {
        message.storeRefs--;
      }
      continue;
    }
    const delivery = new Delivery(
      message,
      record.qos,
      record.retain,
      record.subscriptionId,
      record.mid,
    );
    delivery.dup = record.dup;
    const state = inflightState(record);
    if (state === DeliveryState.Queued || record.mid === 0 || session.inflight.has(record.mid)) {
      session.queue.push(delivery);
    } else {
      delivery.state = state;
      session.inflight.set(record.mid, delivery);
      session.inflightBytes += message.payloadLength;
    }
  }
  state.clientMessages.length = 0;
  const wills: RestoredSessions['wills'] = [];
  const clientRecords = new Map(state.clients.map((c) => [c.clientId, c]));
  for (const record of state.wills) {
    const session = byId.get(record.clientId);
    if (session === undefined) continue;
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
    const client = clientRecords.get(record.clientId);
    const delay =
      client === undefined
        ? 0
        : client.willDelayTime !== 0
          ? Math.max(0, client.willDelayTime - wall)
          : client.willDelayInterval;
    wills.push({ clientId: record.clientId, message, delaySeconds: delay });
  }
  for (const message of restoredMessages) {
    persistence.adoptRestored(message);
  }
  return { sessions, expired, wills };
}

function inflightState(record: ClientMessageRecord): DeliveryState {
  switch (record.state) {
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
