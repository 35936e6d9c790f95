/**
 * Routing one published message to its subscribers (Mosquitto's sub__messages_queue).
 *
 * The subscription tree calls a module-level visitor for each matching subscription;
 * the visitor only records recipients, and deliveries happen after the walk, so a
 * delivery can never disturb the walk. MQTT 3.x sessions get one copy per message at
 * the highest QoS of their matching subscriptions; MQTT 5 sessions get one copy per
 * matching subscription, each with its own subscription identifier [MQTT-3.3.4-3..5].
 */
import type { QoS } from '../protocol/constants.ts';
import { ProtocolVersion } from '../protocol/constants.ts';
import type { SubscriptionEntry } from './router/subscription-tree.ts';
import type { Broker } from './broker.ts';
import type { StoredMessage } from './messages/stored-message.ts';
import { deliverToSession } from './outgoing.ts';
import type { Session } from './session.ts';

/** Scratch space for one routing pass; reused, one per nesting depth. */
class RouteContext {
  message: StoredMessage | null = null;
  publisherId = '';
  upgradeQos = false;
  epoch = 0;
  matched = false;
  count = 0;
  readonly sessions: (Session | undefined)[] = [];
  readonly qos: QoS[] = [];
  readonly retain: boolean[] = [];
  readonly subscriptionIds: number[] = [];
}

const contexts: RouteContext[] = [new RouteContext()];
let depth = 0;
let nextEpoch = 1;

function visitSubscription(entry: SubscriptionEntry<Session>, context: RouteContext): void {
  context.matched = true;
  const session = entry.subscriber;
  const options = entry.options;
  const message = context.message;
  if (message === null) return;
  // [MQTT-3.8.3-3] No Local: not back to the publishing client.
  if (options.noLocal && session.clientId === context.publisherId) return;
  let qos: QoS;
  if (context.upgradeQos) qos = options.qos;
  else qos = message.qos < options.qos ? message.qos : options.qos;
  // [MQTT-3.3.1-12] live messages carry RETAIN 0 unless Retain As Published.
  const retain = options.retainAsPublished && message.retain;
  if (session.protocolVersion !== ProtocolVersion.V5) {
    if (session.routeEpoch === context.epoch) {
      const slot = session.routeSlot;
      if (qos > (context.qos[slot] ?? 0)) context.qos[slot] = qos;
      if (retain) context.retain[slot] = true;
      return;
    }
    session.routeEpoch = context.epoch;
    session.routeSlot = context.count;
  }
  const slot = context.count++;
  context.sessions[slot] = session;
  context.qos[slot] = qos;
  context.retain[slot] = retain;
  context.subscriptionIds[slot] = options.subscriptionId;
}

/**
 * Delivers `message` to every matching subscription. Returns whether any subscription
 * matched (even one skipped by No Local: Mosquitto still counts it, so the publisher gets
 * no 0x10 "no matching subscribers").
 */
export function routeMessage(broker: Broker, message: StoredMessage): boolean {
  let context = contexts[depth];
  if (context === undefined) {
    context = new RouteContext();
    contexts[depth] = context;
  }
  depth++;
  try {
    context.message = message;
    context.publisherId = message.sourceClientId;
    context.upgradeQos = broker.config.upgradeOutgoingQos;
    context.epoch = nextEpoch++;
    context.matched = false;
    context.count = 0;
    broker.subscriptions.match(message.topic, visitSubscription, context);
    const count = context.count;
    for (let i = 0; i < count; i++) {
      const session = context.sessions[i];
      if (session === undefined) continue;
      context.sessions[i] = undefined;
      deliverToSession(
        broker,
        session,
        message,
        context.qos[i] ?? 0,
        context.retain[i] ?? false,
        context.subscriptionIds[i] ?? 0,
      );
    }
    context.message = null;
    return context.matched;
  } finally {
    depth--;
  }
}
