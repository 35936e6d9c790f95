/**
 * The client's half of an MQTT session, which outlives connections: message ids, QoS 1/2
 * publishes in flight or waiting for a slot, SUBSCRIBE/UNSUBSCRIBE awaiting their acks,
 * and incoming QoS 2 messages held until PUBREL. The client (client.ts) moves packets; this
 * module only keeps the books.
 */
import type { QoS } from '../protocol/constants.ts';
import type {
  Properties,
  PublishPacket,
  SubackPacket,
  UnsubackPacket,
} from '../protocol/packets.ts';

export interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

export const FlowState = {
  /** Waiting for a slot in the in-flight window (or for a connection). */
  Queued: 0,
  /** QoS 1 sent, waiting for PUBACK. */
  AwaitPuback: 1,
  /** QoS 2 sent, waiting for PUBREC. */
  AwaitPubrec: 2,
  /** PUBREL sent, waiting for PUBCOMP. */
  AwaitPubcomp: 3,
} as const;
export type FlowState = (typeof FlowState)[keyof typeof FlowState];

export interface PublishOutcome {
  readonly mid: number;
  /** 0 for QoS 0 and for 3.1.x; the PUBACK/PUBREC/PUBCOMP reason code otherwise. */
  readonly reasonCode: number;
  readonly properties: Properties;
}

/** One outgoing QoS 1/2 publish (QoS 0 ones only pass through the queue). */
export class OutgoingFlow {
  state: FlowState = FlowState.Queued;
  /** Sent at least once (a resend carries DUP). */
  sent = false;
  constructor(
    readonly mid: number,
    public packet: PublishPacket,
    readonly settle: Settle<PublishOutcome>,
  ) {}

  get qos(): QoS {
    return this.packet.qos;
  }
}

export interface PendingAck<T> {
  readonly mid: number;
  readonly settle: Settle<T>;
}

export class ClientSession {
  private lastMid = 0;
  /** QoS 1/2 publishes by mid, in the order they were published (Map keeps it). */
  readonly outgoing = new Map<number, OutgoingFlow>();
  /** Publishes of any QoS waiting for a connection or a slot, in order. */
  readonly queue: OutgoingFlow[] = [];
  readonly subscribes = new Map<number, PendingAck<SubackPacket>>();
  readonly unsubscribes = new Map<number, PendingAck<UnsubackPacket>>();
  /** Incoming QoS 2 messages received (PUBREC sent), delivered on PUBREL. */
  readonly incomingQos2 = new Map<number, PublishPacket>();

  /**
   * The next message id: counting up from 1 as libmosquitto does (so ids match its debug
   * lines), wrapping after 65535 and skipping 0 and ids still in use.
   */
  nextMid(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      this.lastMid = this.lastMid >= 65_535 ? 1 : this.lastMid + 1;
      const mid = this.lastMid;
      if (!this.outgoing.has(mid) && !this.subscribes.has(mid) && !this.unsubscribes.has(mid)) {
        return mid;
      }
    }
    throw new Error('every packet identifier is in use');
  }

  /** QoS 1/2 publishes sent and not yet completed (they occupy the window). */
  inflightCount(): number {
    let count = 0;
    for (const flow of this.outgoing.values()) if (flow.state !== FlowState.Queued) count++;
    return count;
  }

  /** Rejects everything pending (the client is closing for good). */
  failAll(error: unknown): void {
    for (const flow of this.outgoing.values()) flow.settle.reject(error);
    for (const flow of this.queue) if (!this.outgoing.has(flow.mid)) flow.settle.reject(error);
    for (const pending of this.subscribes.values()) pending.settle.reject(error);
    for (const pending of this.unsubscribes.values()) pending.settle.reject(error);
    this.outgoing.clear();
    this.queue.length = 0;
    this.subscribes.clear();
    this.unsubscribes.clear();
    this.incomingQos2.clear();
  }
}
