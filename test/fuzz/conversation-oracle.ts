/**
 * The delivery oracle of the conversation fuzzer: what the broker promised, and what each
 * session got. Times are LogicalClock ticks, so "before" and "after" are exact.
 *
 * The invariant (MQTT 3.1.1 §4.3, MQTT 5 §4.3 and §4.5):
 *   A QoS 1 message the broker acknowledged (PUBACK received by the publisher), or a
 *   QoS 2 message whose flow completed (PUBCOMP received; the broker routes it at the
 *   PUBLISH or at the PUBREL, both before PUBCOMP), must reach every session that had a
 *   matching subscription of QoS >= 1 for the whole window [first PUBLISH sent, ack
 *   received], provided that session still exists when the run drains: a persistent
 *   session not reset by a later clean start, or a clean one whose connection stayed up.
 *   It arrives at least once at QoS 1; at QoS 2 a session never gets the same message
 *   again after the broker released it (PUBREL), nor more copies (distinct packet ids)
 *   than it had matching subscriptions.
 * Narrower windows are what make the oracle sound: a subscription counts only from its
 * SUBACK to the UNSUBSCRIBE (or clean start, or close of a clean session) we sent.
 */
import { topicMatches } from '../../src/protocol/topic.ts';

export interface SubscriptionSpan {
  readonly filter: string;
  readonly qos: number;
  readonly from: number;
  to: number;
}

/** One life of a session on the broker: from a clean start until the next. */
export class SessionEpoch {
  readonly spans: SubscriptionSpan[] = [];
  /** Every filter a SUBSCRIBE asked for (answered or not): the broker may hold any. */
  readonly requested = new Set<string>();
  /** Message key -> copies received. */
  readonly delivered = new Map<string, number>();
  /** QoS 2 copies by message key: packet ids seen, and those already released. */
  readonly qos2 = new Map<string, { ids: Set<number>; released: Set<number> }>();
  /** False once the session is gone (clean session closed, or a clean start replaced it). */
  alive = true;
  /** A CONNACK was received in this epoch (the next resume must say session present). */
  established = false;

  constructor(
    readonly session: string,
    readonly id: number,
    readonly persistent: boolean,
  ) {}

  open(filter: string, qos: number, at: number): void {
    this.close(filter, at);
    this.spans.push({ filter, qos, from: at, to: Infinity });
  }

  close(filter: string, at: number): void {
    for (const span of this.spans) if (span.filter === filter && span.to === Infinity) span.to = at;
  }

  end(at: number): void {
    for (const span of this.spans) if (span.to === Infinity) span.to = at;
    this.alive = false;
  }

  /** Its subscriptions and deliveries, for a failure report. */
  describe(): string {
    const spans = this.spans.map(
      (s) => `${s.filter} q${s.qos} @${s.from}-${s.to === Infinity ? 'open' : s.to}`,
    );
    return `${this.session} epoch ${this.id} (persistent ${this.persistent}): ${this.delivered.size} messages received; subscriptions ${spans.join(', ')}`;
  }

  activeFilters(): string[] {
    return this.spans.filter((s) => s.to === Infinity).map((s) => s.filter);
  }

  /** A PUBLISH arrived; returns a violation, or null. */
  receive(key: string, topic: string, qos: number, packetId: number, dup: boolean): string | null {
    this.delivered.set(key, (this.delivered.get(key) ?? 0) + 1);
    if (qos !== 2) return null;
    let copies = this.qos2.get(key);
    if (copies === undefined) {
      copies = { ids: new Set(), released: new Set() };
      this.qos2.set(key, copies);
    }
    if (copies.released.has(packetId)) {
      return `${this.session}: QoS 2 message ${key} (id ${packetId}, dup ${dup}) arrived again after its PUBREL`;
    }
    copies.ids.add(packetId);
    const matching = [...this.requested].filter((filter) => topicMatches(filter, topic));
    if (copies.ids.size > matching.length) {
      return (
        `${this.session}: QoS 2 message ${key} arrived as ${copies.ids.size} copies ` +
        `(ids ${[...copies.ids].join(',')}) with ${matching.length} matching subscription(s)`
      );
    }
    return null;
  }

  released(key: string | undefined, packetId: number): void {
    if (key === undefined) return;
    this.qos2.get(key)?.released.add(packetId);
  }
}

export interface SentMessage {
  readonly key: string;
  readonly topic: string;
  readonly qos: 1 | 2;
  readonly publisher: string;
  readonly sentAt: number;
  /** Tick of the PUBACK / PUBCOMP that accepted it, or -1. */
  ackedAt: number;
}

/** Every (message, session) pair the broker owes a delivery for, undelivered; `owed` counts all. */
export function missingDeliveries(
  messages: readonly SentMessage[],
  epochs: readonly SessionEpoch[],
): { missing: string[]; owed: number } {
  const missing: string[] = [];
  const short = new Set<SessionEpoch>();
  let owedCount = 0;
  for (const message of messages) {
    if (message.ackedAt < 0) continue;
    for (const epoch of epochs) {
      if (!epoch.alive) continue;
      const owed = epoch.spans.some(
        (span) =>
          Math.min(span.qos, message.qos) >= 1 &&
          span.from < message.sentAt &&
          span.to > message.ackedAt &&
          topicMatches(span.filter, message.topic),
      );
      if (owed) owedCount++;
      if (owed && !epoch.delivered.has(message.key)) {
        short.add(epoch);
        missing.push(
          `${epoch.session} (epoch ${epoch.id}) never got QoS ${message.qos} message ${message.key} ` +
            `on ${message.topic} from ${message.publisher} (sent @${message.sentAt}, acked @${message.ackedAt})`,
        );
      }
    }
  }
  for (const epoch of short) missing.push(epoch.describe());
  return { missing, owed: owedCount };
}
