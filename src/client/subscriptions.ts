/**
 * SUBSCRIBE / UNSUBSCRIBE and the way received messages reach their readers: the live
 * Subscriptions (each an AsyncIterable fed by topic matching), the client-wide message
 * queues of messages(), and re-subscribing after a reconnection that lost the session.
 * Acknowledgements are awaited through the ClientSession's tables, so SUBACKs that arrive
 * on a later connection still settle.
 */
import { PacketType, ProtocolVersion, type QoS } from '../protocol/constants.ts';
import {
  EMPTY_PROPERTIES,
  type Packet,
  type Properties,
  type PublishPacket,
  type Subscription as FilterOptions,
} from '../protocol/packets.ts';
import { isValidTopicFilter } from '../protocol/topic.ts';
import type { ClientSession, PendingAck } from './client-session.ts';
import { abortError, ClientErrorCode, MosqErr, MqttClientError } from './errors.ts';
import { MessageQueue } from './message-queue.ts';
import type { ReceivedMessage } from './message.ts';
import { Subscription, type UnsubscribeResult } from './subscription.ts';

export interface SubscribeOptions {
  readonly qos?: QoS;
  readonly noLocal?: boolean;
  readonly retainAsPublished?: boolean;
  readonly retainHandling?: 0 | 1 | 2;
  /** SUBSCRIBE properties: a subscriptionIdentifiers entry, user properties. */
  readonly properties?: Properties;
  readonly signal?: AbortSignal;
}

/** A filter with its own options, for subscribe([...]). */
export interface FilterRequest {
  readonly topicFilter: string;
  readonly qos?: QoS;
  readonly noLocal?: boolean;
  readonly retainAsPublished?: boolean;
  readonly retainHandling?: 0 | 1 | 2;
}

/** What subscribing needs from the client's connection. */
export interface SubscriptionLink {
  /** Sends now when connected, else as soon as the next connection is accepted. */
  sendWhenConnected(packet: Packet, mid: number): void;
}

function invalid(message: string): MqttClientError {
  return new MqttClientError(ClientErrorCode.InvalidArgument, MosqErr.Inval, message);
}

export class Subscriptions {
  private readonly live = new Set<Subscription>();
  private readonly queues = new Set<MessageQueue<ReceivedMessage>>();

  constructor(
    private readonly session: ClientSession,
    private readonly link: SubscriptionLink,
    private readonly version: ProtocolVersion,
    /** Runs on every delivered message before the iterators (ClientObserver.message). */
    private readonly observe: ((message: ReceivedMessage) => void) | undefined,
  ) {}

  async subscribe(
    filters: string | readonly (string | FilterRequest)[],
    options: SubscribeOptions,
  ): Promise<Subscription> {
    const list = typeof filters === 'string' ? [filters] : filters;
    if (list.length === 0) throw invalid('no topic filter given');
    // Subscription options beyond the QoS exist in MQTT 5 only.
    const v5 = this.version === ProtocolVersion.V5;
    const requests: FilterOptions[] = list.map((entry) => {
      const r: FilterRequest = typeof entry === 'string' ? { topicFilter: entry } : entry;
      if (!isValidTopicFilter(r.topicFilter)) {
        throw invalid(`invalid subscription topic '${r.topicFilter}'`);
      }
      return {
        topicFilter: r.topicFilter,
        qos: r.qos ?? options.qos ?? 0,
        noLocal: v5 && (r.noLocal ?? options.noLocal ?? false),
        retainAsPublished: v5 && (r.retainAsPublished ?? options.retainAsPublished ?? false),
        retainHandling: v5 ? (r.retainHandling ?? options.retainHandling ?? 0) : 0,
      };
    });
    const properties = v5 ? (options.properties ?? EMPTY_PROPERTIES) : EMPTY_PROPERTIES;
    const signal = options.signal;
    if (signal?.aborted === true) throw abortError(signal);
    const mid = this.session.nextMid();
    const subscription = new Subscription(
      {
        unsubscribe: (f, o) => this.unsubscribe(f, o ?? {}),
        forget: (s) => this.live.delete(s),
      },
      mid,
      requests.map((r) => r.topicFilter),
      requests,
      properties,
    );
    // Registered before SUBSCRIBE leaves: retained messages may follow the SUBACK at once.
    this.live.add(subscription);
    const packet: Packet = {
      type: PacketType.Subscribe,
      packetId: mid,
      subscriptions: requests,
      properties,
    };
    try {
      const suback = await this.awaitAck(this.session.subscribes, mid, signal, packet);
      subscription.reasonCodes = suback.reasonCodes;
      subscription.properties = suback.properties;
      return subscription;
    } catch (error) {
      subscription.close();
      throw error;
    }
  }

  async unsubscribe(
    filters: string | readonly string[],
    options: { properties?: Properties; signal?: AbortSignal },
  ): Promise<UnsubscribeResult> {
    const list = typeof filters === 'string' ? [filters] : [...filters];
    if (list.length === 0) throw invalid('no topic filter given');
    for (const f of list) {
      if (!isValidTopicFilter(f)) throw invalid(`invalid unsubscribe topic '${f}'`);
    }
    const properties =
      this.version === ProtocolVersion.V5
        ? (options.properties ?? EMPTY_PROPERTIES)
        : EMPTY_PROPERTIES;
    const mid = this.session.nextMid();
    const packet: Packet = {
      type: PacketType.Unsubscribe,
      packetId: mid,
      topicFilters: list,
      properties,
    };
    const unsuback = await this.awaitAck(this.session.unsubscribes, mid, options.signal, packet);
    for (const sub of [...this.live]) {
      if (sub.filters.every((f) => list.includes(f))) sub.close();
    }
    return { mid, reasonCodes: unsuback.reasonCodes, properties: unsuback.properties };
  }

  /** SUBSCRIBE again for every live subscription (the broker kept no session). */
  resubscribe(): void {
    for (const sub of this.live) {
      const mid = this.session.nextMid();
      this.session.subscribes.set(mid, {
        mid,
        settle: { resolve: () => undefined, reject: () => undefined },
      });
      this.link.sendWhenConnected(
        {
          type: PacketType.Subscribe,
          packetId: mid,
          subscriptions: sub.requests,
          properties: sub.requestProperties,
        },
        mid,
      );
    }
  }

  /** A client-wide reader of every message from now on. */
  messages(closed: boolean, signal: AbortSignal | undefined): AsyncIterable<ReceivedMessage> {
    const queue = new MessageQueue<ReceivedMessage>(() => {
      this.queues.delete(queue);
    });
    if (closed) queue.end();
    else this.queues.add(queue);
    return { [Symbol.asyncIterator]: () => queue.iterate(signal) };
  }

  /** Hands a received PUBLISH (topic alias resolved) to the observer and the readers. */
  deliver(packet: PublishPacket): void {
    const message: ReceivedMessage = {
      topic: packet.topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      mid: packet.packetId,
      properties: packet.properties,
    };
    this.observe?.(message);
    for (const queue of this.queues) queue.push(message);
    for (const sub of this.live) if (sub.matches(message.topic)) sub.push(message);
  }

  /** Ends every reader: quietly (null) or with the error that closed the client. */
  finish(error: MqttClientError | null): void {
    for (const sub of [...this.live]) sub.finish(error);
    for (const queue of [...this.queues]) {
      if (error === null) queue.end();
      else queue.fail(error);
    }
  }

  /** Registers a pending ack, sends (now, or once connected), waits. */
  private awaitAck<T>(
    table: Map<number, PendingAck<T>>,
    mid: number,
    signal: AbortSignal | undefined,
    packet: Packet,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        table.delete(mid);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      table.set(mid, {
        mid,
        settle: {
          resolve: (value: T) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(value);
          },
          reject: (error: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        },
      });
      this.link.sendWhenConnected(packet, mid);
    });
  }
}
