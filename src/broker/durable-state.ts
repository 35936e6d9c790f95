/**
 * The broker's durable state as records (persistence/records.ts): a snapshot of everything
 * a store keeps (for mosquitto.db saves and for filling a journal); restore-builder.ts
 * goes the other way. Works on the registries the broker hands over, not on the Broker
 * itself, so persistence does not join broker.ts's circle.
 */
import type { Clock } from '../common/clock.ts';
import type { Delivery } from './messages/delivery.ts';
import type { StoredMessage } from './messages/stored-message.ts';
import type { Persistence } from './persistence/persistence.ts';
import { STATE_OF_DELIVERY } from './persistence/record-builder.ts';
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
import type { SubscriptionTree } from './router/subscription-tree.ts';
import type { Session } from './session.ts';

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
