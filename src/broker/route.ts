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
import type { SubscriptionEntry, SubscriptionTree } from './router/subscription-tree.ts';
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

type Entries = readonly (SubscriptionEntry<Session> | undefined)[];

const NO_ENTRIES: Entries = [];
/** Topics cached at most, and matched entries held by a cache at most. */
const CACHE_TOPICS = 4096;
const CACHE_ENTRIES = 65_536;
/** Lookups per hit-rate window; below half hits, the cache is bypassed for 15 windows. */
const CACHE_WINDOW = 1024;

/**
 * The matches of recently routed topics, for one subscription tree. Topic names repeat,
 * and the decoder hands out the same string instance for a repeated topic, so one Map
 * lookup replaces splitting the topic and walking the tree (a third of the cost of a
 * QoS 0 message in fan-in). Entries stay valid while the tree's version is unchanged;
 * a match that involved a share group is never cached, since every
 * message moves the group's round-robin. Ever-new topics turn the cache off for a while.
 */
class RouteCache {
  readonly #topics = new Map<string, Entries>();
  #treeVersion = -1;
  #entries = 0;
  #lookups = 0;
  #hits = 0;
  #bypass = 0;

  /** The cached entries of `topic`, or undefined (then match and offer the result). */
  lookup(topic: string, treeVersion: number): Entries | undefined {
    if (this.#bypass > 0) {
      this.#bypass--;
      return undefined;
    }
    if (treeVersion !== this.#treeVersion) {
      this.#clear();
      this.#treeVersion = treeVersion;
    }
    if (++this.#lookups === CACHE_WINDOW) {
      if (this.#hits < CACHE_WINDOW / 2) this.#bypass = 15 * CACHE_WINDOW;
      this.#lookups = 0;
      this.#hits = 0;
    }
    const entries = this.#topics.get(topic);
    if (entries !== undefined) this.#hits++;
    return entries;
  }

  get bypassed(): boolean {
    return this.#bypass > 0;
  }

  offer(topic: string, recorded: Entries, count: number): void {
    if (this.#topics.size >= CACHE_TOPICS || this.#entries + count > CACHE_ENTRIES) this.#clear();
    this.#topics.set(topic, count === 0 ? NO_ENTRIES : recorded.slice(0, count));
    this.#entries += count;
  }

  #clear(): void {
    this.#topics.clear();
    this.#entries = 0;
  }
}

const routeCaches = new WeakMap<SubscriptionTree<Session>, RouteCache>();
let lastTree: SubscriptionTree<Session> | null = null;
let lastCache: RouteCache | null = null;

function routeCacheOf(tree: SubscriptionTree<Session>): RouteCache {
  if (tree === lastTree && lastCache !== null) return lastCache;
  let cache = routeCaches.get(tree);
  if (cache === undefined) {
    cache = new RouteCache();
    routeCaches.set(tree, cache);
  }
  lastTree = tree;
  lastCache = cache;
  return cache;
}

/** The entries one tree walk visited, for the route cache. */
class Recording {
  readonly entries: (SubscriptionEntry<Session> | undefined)[] = [];
  count = 0;
  /** A share group member was visited: the result must not be cached. */
  shared = false;

  start(): void {
    this.count = 0;
    this.shared = false;
  }

  /** Offers what was recorded to `cache`, and lets go of the sessions. */
  finish(cache: RouteCache, topic: string): void {
    if (!this.shared) cache.offer(topic, this.entries, this.count);
    this.entries.fill(undefined, 0, this.count);
  }
}

const recording = new Recording();

function recordSubscription(entry: SubscriptionEntry<Session>, context: RouteContext): void {
  recording.entries[recording.count++] = entry;
  if (entry.shareGroup !== null) recording.shared = true;
  visitSubscription(entry, context);
}

/** Runs visitSubscription over the subscriptions matching the message's topic. */
function matchSubscriptions(broker: Broker, topic: string, context: RouteContext): void {
  const tree = broker.subscriptions;
  const cache = routeCacheOf(tree);
  const cached = cache.lookup(topic, tree.version);
  if (cached !== undefined) {
    for (let i = 0; i < cached.length; i++) {
      const entry = cached[i];
      if (entry !== undefined) visitSubscription(entry, context);
    }
    return;
  }
  if (cache.bypassed) {
    tree.match(topic, visitSubscription, context);
    return;
  }
  // Visitors only record (deliveries come after the walk), so no walk nests in this one.
  recording.start();
  tree.match(topic, recordSubscription, context);
  recording.finish(cache, topic);
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
    matchSubscriptions(broker, message.topic, context);
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
