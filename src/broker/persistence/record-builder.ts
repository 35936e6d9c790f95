/**
 * RecordBuilder: the broker's objects as persistence records (records.ts), with the two
 * counters the records need: store ids (Mosquitto's db_id, one per stored message) and
 * client-message ids (2.1's cmsg_id). Times become absolute Unix seconds here.
 */
import type { Clock } from '../../common/clock.ts';
import type { Delivery } from '../messages/delivery.ts';
import type { StoredMessage } from '../messages/stored-message.ts';
import { NEVER_EXPIRES } from '../messages/stored-message.ts';
import type { SubscriptionOptions } from '../router/subscription-tree.ts';
import type { Session } from '../session.ts';
import { SESSION_NEVER_EXPIRES } from '../session.ts';
import type {
  BaseMessageRecord,
  ClientMessageRecord,
  ClientRecord,
  SubscriptionRecord,
} from './records.ts';
import { MessageDirection, MessageState } from './records.ts';
import type { RecordSource } from './write-behind.ts';

/** Mosquitto's message state of a delivery, by DeliveryState. */
export const STATE_OF_DELIVERY: readonly MessageState[] = [
  MessageState.Queued,
  MessageState.WaitForPuback,
  MessageState.WaitForPubrec,
  MessageState.WaitForPubcomp,
];

/** Options byte of a subscription as both file formats of Mosquitto 2.1 write it. */
export function subscriptionOptionsByte(options: SubscriptionOptions): number {
  return (
    options.qos |
    (options.noLocal ? 0x04 : 0) |
    (options.retainAsPublished ? 0x08 : 0) |
    (options.retainHandling << 4)
  );
}

export class RecordBuilder implements RecordSource {
  readonly #clock: Clock;
  /** The highest store id handed out (new ones continue after it). */
  lastStoreId = 0;
  /** The next client-message id; orders a client's messages in the SQLite store. */
  nextCmsgId = 1;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Wall-clock seconds for a monotonic deadline in ms (0 stays 0). */
  wallTime(deadline: number): number {
    if (deadline === NEVER_EXPIRES) return 0;
    const clock = this.#clock;
    return clock.wallSeconds() + Math.max(0, Math.ceil((deadline - clock.now()) / 1000));
  }

  /** Gives a message its store id (once). */
  storeIdOf(message: StoredMessage): number {
    if (message.storeId === 0) message.storeId = ++this.lastStoreId;
    return message.storeId;
  }

  baseMessageRecord(message: StoredMessage): BaseMessageRecord {
    return {
      storeId: this.storeIdOf(message),
      expiryTime: this.wallTime(message.expiresAt),
      topic: message.topic,
      payload: message.payload,
      sourceId: message.sourceClientId,
      sourceUsername: message.sourceUsername,
      sourceMid: 0,
      sourcePort: 0,
      qos: message.qos,
      retain: message.retain,
      properties: message.properties,
    };
  }

  clientRecord(session: Session): ClientRecord {
    const connected = session.connection !== null;
    let expiryTime = 0;
    if (connected) {
      // As Mosquitto: a connected session's deadline counts from now.
      if (session.expiryInterval !== SESSION_NEVER_EXPIRES) {
        expiryTime = this.#clock.wallSeconds() + session.expiryInterval;
      }
    } else if (session.expiryWallTime !== 0) {
      expiryTime = session.expiryWallTime;
    } else if (session.expiryInterval !== SESSION_NEVER_EXPIRES) {
      // Disconnected by the shutdown itself: its time starts now, as Mosquitto saves it.
      expiryTime = this.#clock.wallSeconds() + session.expiryInterval;
    }
    const will = session.will;
    return {
      clientId: session.clientId,
      username: session.username,
      sessionExpiryTime: expiryTime,
      sessionExpiryInterval: session.expiryInterval,
      lastMid: session.packetIds.last,
      listenerPort: session.listenerPort,
      willDelayTime: session.willWallTime,
      willDelayInterval: will?.delaySeconds ?? 0,
      maxPacketSize: session.connection?.clientMaximumPacketSize ?? 0,
      maxQos: session.maxQos,
      retainAvailable: true,
    };
  }

  subscriptionRecord(
    clientId: string,
    filter: string,
    options: SubscriptionOptions,
  ): SubscriptionRecord {
    return {
      clientId,
      topicFilter: filter,
      options: subscriptionOptionsByte(options),
      identifier: options.subscriptionId,
    };
  }

  outgoingRecord(clientId: string, delivery: Delivery): ClientMessageRecord {
    return {
      clientId,
      cmsgId: this.nextCmsgId++,
      storeId: delivery.message.storeId,
      mid: delivery.packetId,
      qos: delivery.qos,
      retain: delivery.retain,
      dup: delivery.dup,
      direction: MessageDirection.Out,
      state: this.deliveryState(delivery),
      subscriptionId: delivery.subscriptionId,
    };
  }

  incomingRecord(clientId: string, packetId: number, message: StoredMessage): ClientMessageRecord {
    return {
      clientId,
      cmsgId: this.nextCmsgId++,
      storeId: message.storeId,
      mid: packetId,
      qos: message.qos,
      retain: message.retain,
      dup: false,
      direction: MessageDirection.In,
      state: MessageState.WaitForPubrel,
      subscriptionId: 0,
    };
  }

  deliveryState(delivery: Delivery): MessageState {
    return STATE_OF_DELIVERY[delivery.state] ?? MessageState.Queued;
  }
}
