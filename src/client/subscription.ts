/**
 * A subscription as an AsyncIterable of the messages whose topics match its filters.
 * It is registered with the client before SUBSCRIBE goes out, so retained messages that
 * arrive right behind the SUBACK are already buffered when the caller starts iterating.
 */
import { parseSharedFilter, topicMatches } from '../protocol/topic.ts';
import type { Properties, Subscription as FilterOptions } from '../protocol/packets.ts';
import type { ReceivedMessage } from './message.ts';
import { MessageQueue } from './message-queue.ts';

export interface UnsubscribeResult {
  readonly mid: number;
  /** One per filter in MQTT 5; empty for 3.1.x (UNSUBACK carries none). */
  readonly reasonCodes: readonly number[];
  readonly properties: Properties;
}

/** What a Subscription needs from its client. */
export interface SubscriptionOwner {
  unsubscribe(
    filters: readonly string[],
    options?: { properties?: Properties },
  ): Promise<UnsubscribeResult>;
  forget(subscription: Subscription): void;
}

export class Subscription implements AsyncIterable<ReceivedMessage> {
  /** The SUBSCRIBE's message id. */
  readonly mid: number;
  /** The filters as subscribed (including any $share/<group>/ prefix). */
  readonly filters: readonly string[];
  /** Granted QoS or failure reason code per filter, once the SUBACK arrived. */
  reasonCodes: readonly number[] = [];
  /** The SUBACK's properties (reason string, user properties). */
  properties: Properties = {};
  private readonly matchFilters: readonly string[];
  private readonly queue: MessageQueue<ReceivedMessage>;

  /** @internal What was asked for, to subscribe again after a reconnection without session. */
  readonly requests: readonly FilterOptions[];
  /** @internal */
  readonly requestProperties: Properties;

  constructor(
    private readonly owner: SubscriptionOwner,
    mid: number,
    filters: readonly string[],
    requests: readonly FilterOptions[],
    requestProperties: Properties,
  ) {
    this.mid = mid;
    this.filters = filters;
    this.requests = requests;
    this.requestProperties = requestProperties;
    this.matchFilters = filters.map((f) => parseSharedFilter(f)?.filter ?? f);
    this.queue = new MessageQueue<ReceivedMessage>(() => {
      owner.forget(this);
    });
  }

  /** True when every filter was granted (no reason code >= 0x80). */
  get granted(): boolean {
    return this.reasonCodes.length > 0 && this.reasonCodes.every((c) => c < 0x80);
  }

  /** @internal Whether a message on `topic` belongs to this subscription. */
  matches(topic: string): boolean {
    for (const filter of this.matchFilters) if (topicMatches(filter, topic)) return true;
    return false;
  }

  /** @internal */
  push(message: ReceivedMessage): void {
    this.queue.push(message);
  }

  /** @internal Ends iteration: `error` null for an orderly end. */
  finish(error: unknown): void {
    if (error === null) this.queue.end();
    else this.queue.fail(error);
  }

  /** Messages from now on; iteration stops when `signal` aborts. */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterable<ReceivedMessage> {
    return { [Symbol.asyncIterator]: () => this.queue.iterate(options.signal) };
  }

  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage> {
    return this.queue.iterate();
  }

  /** Sends UNSUBSCRIBE for this subscription's filters and ends its iteration. */
  async unsubscribe(options: { properties?: Properties } = {}): Promise<UnsubscribeResult> {
    this.queue.end();
    return this.owner.unsubscribe(this.filters, options);
  }

  /** Stops delivering to this object without telling the broker. */
  close(): void {
    this.queue.end();
  }
}
