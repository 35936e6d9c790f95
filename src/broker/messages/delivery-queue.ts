/**
 * A session's queue of deliveries waiting for an in-flight slot (or for the client to
 * come back), FIFO, with the counters Mosquitto's max_queued_messages and
 * max_queued_bytes rules look at (only QoS 1/2 messages count, as in Mosquitto).
 */
import type { Delivery } from './delivery.ts';

/** Shared by every empty queue (never written: push() replaces it first). */
const NO_ITEMS: (Delivery | undefined)[] = [];

export class DeliveryQueue {
  #items: (Delivery | undefined)[] = NO_ITEMS;
  #head = 0;
  /** QoS 1/2 deliveries queued. */
  count12 = 0;
  /** Payload bytes of the QoS 1/2 deliveries queued. */
  bytes12 = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(delivery: Delivery): void {
    if (this.#items === NO_ITEMS) this.#items = [];
    this.#items.push(delivery);
    if (delivery.qos > 0) {
      this.count12++;
      this.bytes12 += delivery.message.payloadLength;
    }
  }

  peek(): Delivery | undefined {
    return this.#items[this.#head];
  }

  shift(): Delivery | undefined {
    const delivery = this.#items[this.#head];
    if (delivery === undefined) return undefined;
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = NO_ITEMS;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (delivery.qos > 0) {
      this.count12--;
      this.bytes12 -= delivery.message.payloadLength;
    }
    return delivery;
  }

  /** The queued deliveries, oldest first. */
  *[Symbol.iterator](): Generator<Delivery> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const delivery = this.#items[i];
      if (delivery !== undefined) yield delivery;
    }
  }

  /** Keeps only the deliveries `keep` accepts (used to drop expired messages). */
  filter(keep: (delivery: Delivery) => boolean): void {
    const kept: Delivery[] = [];
    this.count12 = 0;
    this.bytes12 = 0;
    for (let i = this.#head; i < this.#items.length; i++) {
      const delivery = this.#items[i];
      if (delivery === undefined || !keep(delivery)) continue;
      kept.push(delivery);
      if (delivery.qos > 0) {
        this.count12++;
        this.bytes12 += delivery.message.payloadLength;
      }
    }
    this.#items = kept.length === 0 ? NO_ITEMS : kept;
    this.#head = 0;
  }

  clear(): void {
    this.#items = NO_ITEMS;
    this.#head = 0;
    this.count12 = 0;
    this.bytes12 = 0;
  }
}
