/**
 * Which sessions get a published message: a trie keyed by topic level.
 *
 * A note on matching (after Mosquitto's subs.c). A filter is stored as one node per
 * level; `+` and `#` are ordinary node names. A topic is matched by walking its levels:
 * at each node the literal child is searched before the `+` child, and a `#` child
 * matches whatever is left, including nothing, which is why `a/#` matches `a`
 * [MQTT-4.7.1-2]. Filters whose first level is a wildcard never match a topic that
 * starts with `$` [MQTT-4.7.2-1]. Empty levels (`a//b`, `/a`) are ordinary names.
 *
 * Normal and shared subscriptions live in two trees, searched in that order, as in
 * Mosquitto 2.0: the visit order is Mosquitto's, which matters where the broker keeps
 * only the first matching subscription (v3 de-duplication). At a node, every share group
 * gives the message to exactly one member, strictly round-robin (see ShareGroup).
 *
 * Deliberate differences from Mosquitto 2.0.22 (for DEVIATIONS.md): a shared filter
 * whose first level starts with `$` (`$share/g/$foo/x`) matches `$foo/x` here, while
 * Mosquitto files it under the "" root and never delivers to it; and re-subscribing
 * replaces every option [MQTT-3.8.4-3], while Mosquitto updates only the QoS and the
 * subscription identifier, keeping the old No Local and Retain As Published.
 */
import type { QoS } from '../../protocol/constants.ts';
import { parseSharedFilter, splitLevels } from '../../protocol/topic.ts';
import {
  pruneEmpty,
  ShareGroup,
  Subscription,
  SubscriptionList,
  TreeNode,
} from './subscription-node.ts';
import { dumpTree } from './subscription-dump.ts';

/** What the tree stores per subscriber; the broker's Session implements it. */
export interface Subscriber {
  readonly clientId: string;
}

export interface SubscriptionOptions {
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  /** 0 = none. */
  readonly subscriptionId: number;
}

export interface SubscriptionEntry<S extends Subscriber> {
  readonly subscriber: S;
  /** As subscribed, including any "$share/<group>/" prefix. */
  readonly filter: string;
  /** null for a normal subscription. */
  readonly shareGroup: string | null;
  /** Replaced when the same subscriber re-subscribes. */
  options: SubscriptionOptions;
}

const DOLLAR = 0x24;

export class SubscriptionTree<S extends Subscriber> {
  private readonly normalRoot = new TreeNode<S>('', null);
  private readonly sharedRoot = new TreeNode<S>('', null);
  /**
   * Root entries for the dump: "" and $SYS always, other `$` first levels while used.
   * (Mosquitto never frees those, and prints them empty; we forget them, to stay bounded.)
   */
  private readonly normalRootNames = new Set<string>(['', '$SYS']);
  private normalCount = 0;
  private sharedCount = 0;
  private changes = 0;
  /** The topic's levels during match(), reused to spare an array per message. */
  private readonly levelScratch: string[] = [];
  private matchDepth = 0;

  /** Normal plus shared entries. */
  get subscriptionCount(): number {
    return this.normalCount + this.sharedCount;
  }

  get sharedSubscriptionCount(): number {
    return this.sharedCount;
  }

  /**
   * Changes with every add() and every remove() that removed something: while it stays
   * the same, match() visits the same entries (a share group's rotation aside), so callers
   * may cache matches against it.
   */
  get version(): number {
    return this.changes;
  }

  /**
   * Adds, or replaces the options of, (subscriber, filter). The filter is already valid.
   * Subscribers are told apart by client id, as Mosquitto does; a different object with
   * the same client id takes over the entry.
   */
  add(
    subscriber: S,
    filter: string,
    options: SubscriptionOptions,
  ): { entry: SubscriptionEntry<S>; isNew: boolean } {
    this.changes++;
    const clientId = subscriber.clientId;
    const shared = parseSharedFilter(filter);
    if (shared === null) {
      if (filter.charCodeAt(0) === DOLLAR) this.normalRootNames.add(firstLevel(filter));
      const node = descend(this.normalRoot, filter);
      const list = (node.subscriptions ??= new SubscriptionList<S>());
      const existing = list.find(clientId);
      if (existing !== undefined) {
        existing.subscriber = subscriber;
        existing.options = options;
        return { entry: existing, isNew: false };
      }
      const entry = new Subscription(subscriber, filter, null, options);
      list.append(entry);
      this.normalCount++;
      return { entry, isNew: true };
    }

    const groupName = shared.group;
    const node = descend(this.sharedRoot, shared.filter);
    let group = node.findGroup(groupName);
    if (group === undefined) {
      group = new ShareGroup<S>(groupName);
      (node.groups ??= []).push(group);
    }
    const existing = group.find(clientId);
    if (existing !== undefined) {
      existing.subscriber = subscriber;
      existing.options = options;
      return { entry: existing, isNew: false };
    }
    const entry = new Subscription(subscriber, filter, groupName, options);
    group.join(entry);
    this.sharedCount++;
    return { entry, isNew: true };
  }

  /** Removes (subscriber, filter); true if it existed. */
  remove(subscriber: S, filter: string): boolean {
    const clientId = subscriber.clientId;
    const shared = parseSharedFilter(filter);
    if (shared === null) {
      const node = find(this.normalRoot, filter);
      const list = node?.subscriptions;
      if (node === undefined || list == null) return false;
      const entry = list.find(clientId);
      if (entry === undefined) return false;
      list.remove(entry);
      if (list.count === 0) node.subscriptions = null;
      this.normalCount--;
      this.changes++;
      pruneEmpty(node);
      if (filter.charCodeAt(0) === DOLLAR) this.forgetUnusedRoot(firstLevel(filter));
      return true;
    }

    const node = find(this.sharedRoot, shared.filter);
    const group = node?.findGroup(shared.group);
    if (node === undefined || group === undefined) return false;
    const member = group.find(clientId);
    if (member === undefined) return false;
    group.leave(member);
    if (group.members.length === 0 && node.groups !== null) {
      node.groups.splice(node.groups.indexOf(group), 1);
      if (node.groups.length === 0) node.groups = null;
    }
    this.sharedCount--;
    this.changes++;
    pruneEmpty(node);
    return true;
  }

  private forgetUnusedRoot(name: string): void {
    if (name !== '$SYS' && this.normalRoot.child(name) === undefined) {
      this.normalRootNames.delete(name);
    }
  }

  /**
   * Every entry matching `topic` (a valid topic name): all normal subscriptions, then for
   * each matching share group exactly one member, chosen round-robin per message whether
   * or not it is online. `visit` must not add or remove subscriptions; it should be a
   * module-level function with its state in `context`, so that a match allocates
   * nothing but the level strings.
   */
  match<C>(
    topic: string,
    visit: (entry: SubscriptionEntry<S>, context: C) => void,
    context: C,
  ): void {
    // A visitor that publishes re-enters match(); the inner call gets its own array.
    const levels = this.matchDepth === 0 ? this.levelScratch : [];
    const count = splitLevelsInto(topic, levels);
    const wildcardsAtRoot = topic.charCodeAt(0) !== DOLLAR; // [MQTT-4.7.2-1]
    this.matchDepth++;
    try {
      if (this.normalRoot.children !== null) {
        searchRoot(this.normalRoot, levels, count, wildcardsAtRoot, visit, context);
      }
      if (this.sharedRoot.children !== null) {
        searchRoot(this.sharedRoot, levels, count, wildcardsAtRoot, visit, context);
      }
    } finally {
      this.matchDepth--;
    }
  }

  /**
   * Lines for SIGUSR2's dump, as Mosquitto prints them: the normal tree, then the shared
   * tree, one line per node, indented two spaces per depth (starting at 4), and each
   * normal subscriber as " (<client id>, <qos>)". Shared members are not listed, as in
   * Mosquitto, whose printer only reads the normal leaves.
   */
  dump(): string[] {
    const lines: string[] = [];
    dumpTree(this.normalRoot, this.normalRootNames, lines);
    dumpTree(this.sharedRoot, null, lines);
    return lines;
  }
}

function firstLevel(filter: string): string {
  const slash = filter.indexOf('/');
  return slash < 0 ? filter : filter.slice(0, slash);
}

function descend<S extends Subscriber>(root: TreeNode<S>, filter: string): TreeNode<S> {
  let node = root;
  for (const level of splitLevels(filter)) node = node.child(level) ?? node.addChild(level);
  return node;
}

function find<S extends Subscriber>(root: TreeNode<S>, filter: string): TreeNode<S> | undefined {
  let node: TreeNode<S> | undefined = root;
  for (const level of splitLevels(filter)) {
    node = node.child(level);
    if (node === undefined) return undefined;
  }
  return node;
}

/**
 * Writes the levels of `topic` into `levels[0..n-1]` and returns n. Faster than
 * String#split, and allocates only the level strings.
 */
function splitLevelsInto(topic: string, levels: string[]): number {
  let count = 0;
  let start = 0;
  for (;;) {
    const slash = topic.indexOf('/', start);
    if (slash < 0) break;
    levels[count++] = topic.slice(start, slash);
    start = slash + 1;
  }
  levels[count++] = topic.slice(start);
  return count;
}

/** The first level, where wildcards are skipped for `$` topics. */
function searchRoot<S extends Subscriber, C>(
  root: TreeNode<S>,
  levels: readonly string[],
  count: number,
  wildcards: boolean,
  visit: (entry: SubscriptionEntry<S>, context: C) => void,
  context: C,
): void {
  if (!wildcards) {
    const literal = root.child(levels[0] ?? '');
    if (literal !== undefined) {
      search(literal, levels, count, 1, visit, context);
      if (count === 1) deliver(literal, visit, context);
    }
    return;
  }
  search(root, levels, count, 0, visit, context);
}

/**
 * `node` has matched levels[0..index-1] of levels[0..count-1]. Order, as in Mosquitto's
 * sub__search: the literal child's subtree, then the literal child itself if the topic
 * ends there; the same for `+`; then `#`, which matches the rest, however short.
 */
function search<S extends Subscriber, C>(
  node: TreeNode<S>,
  levels: readonly string[],
  count: number,
  index: number,
  visit: (entry: SubscriptionEntry<S>, context: C) => void,
  context: C,
): void {
  if (index < count && node.children !== null) {
    const last = index + 1 === count;
    const literal = node.children.get(levels[index] ?? '');
    if (literal !== undefined) {
      search(literal, levels, count, index + 1, visit, context);
      if (last) deliver(literal, visit, context);
    }
    const plus = node.plusChild;
    if (plus !== null) {
      search(plus, levels, count, index + 1, visit, context);
      if (last) deliver(plus, visit, context);
    }
  }
  const hash = node.hashChild;
  if (hash !== null) deliver(hash, visit, context);
}

/** Share groups first, then normal subscriptions, as Mosquitto's subs__process. */
function deliver<S extends Subscriber, C>(
  node: TreeNode<S>,
  visit: (entry: SubscriptionEntry<S>, context: C) => void,
  context: C,
): void {
  const groups = node.groups;
  if (groups !== null) {
    for (const group of groups) {
      const member = group.take();
      if (member !== undefined) visit(member, context);
    }
  }
  const list = node.subscriptions;
  if (list !== null) {
    for (const entry of list.slots) {
      if (entry !== null) visit(entry, context);
    }
  }
}
