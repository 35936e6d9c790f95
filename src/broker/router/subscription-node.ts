/**
 * The building blocks of the subscription tree: one node per topic level, the normal
 * subscriptions that end at a node (kept in subscription order) and the share groups
 * that end at a node (each with its round-robin cursor). Internal to the router.
 */
import type { Subscriber, SubscriptionEntry, SubscriptionOptions } from './subscription-tree.ts';

/** One (subscriber, filter) pair; the object the tree hands to `match` visitors. */
export class Subscription<S extends Subscriber> implements SubscriptionEntry<S> {
  /** Rebound when another object with the same client id re-subscribes. */
  subscriber: S;
  readonly filter: string;
  readonly shareGroup: string | null;
  options: SubscriptionOptions;
  /** Index in the owning SubscriptionList's slots; -1 for share group members. */
  slot: number;

  constructor(
    subscriber: S,
    filter: string,
    shareGroup: string | null,
    options: SubscriptionOptions,
  ) {
    this.subscriber = subscriber;
    this.filter = filter;
    this.shareGroup = shareGroup;
    this.options = options;
    this.slot = -1;
  }
}

/** Above this many subscribers at one node, lookups by client id go through a Map. */
const INDEX_THRESHOLD = 8;

/**
 * Normal subscriptions at one node, in subscription order (Mosquitto appends new leaves
 * and updates re-subscriptions in place). Removal leaves a null slot, compacted once
 * holes outnumber entries, so that unsubscribing thousands of clients from one busy
 * filter stays linear overall while `match` iterates a plain array.
 */
export class SubscriptionList<S extends Subscriber> {
  /** In subscription order; null marks a removed entry until the next compaction. */
  slots: (Subscription<S> | null)[] = [];
  count = 0;
  private index: Map<string, Subscription<S>> | null = null;

  find(clientId: string): Subscription<S> | undefined {
    if (this.index !== null) return this.index.get(clientId);
    for (const entry of this.slots) {
      if (entry !== null && entry.subscriber.clientId === clientId) return entry;
    }
    return undefined;
  }

  append(entry: Subscription<S>): void {
    entry.slot = this.slots.length;
    this.slots.push(entry);
    this.count++;
    if (this.index !== null) {
      this.index.set(entry.subscriber.clientId, entry);
    } else if (this.count > INDEX_THRESHOLD) {
      this.index = new Map();
      for (const live of this.slots) {
        if (live !== null) this.index.set(live.subscriber.clientId, live);
      }
    }
  }

  remove(entry: Subscription<S>): void {
    this.slots[entry.slot] = null;
    entry.slot = -1;
    this.count--;
    this.index?.delete(entry.subscriber.clientId);
    if (this.count === 0) {
      this.slots.length = 0;
      this.index = null;
    } else if (this.count * 2 < this.slots.length) {
      this.compact();
    }
  }

  private compact(): void {
    let write = 0;
    for (const entry of this.slots) {
      if (entry === null) continue;
      entry.slot = write;
      this.slots[write++] = entry;
    }
    this.slots.length = write;
    if (this.index !== null && this.count <= INDEX_THRESHOLD) this.index = null;
  }
}

/**
 * The members of one `$share/<name>/<filter>` group, rotated strictly round-robin:
 * `members[next]` gets the next message whatever its state (Mosquitto #1747: offline
 * durable members still get, and queue, their share). The array read from `next`
 * and wrapping around is Mosquitto's list with its head moved to the tail per message.
 */
export class ShareGroup<S extends Subscriber> {
  readonly name: string;
  readonly members: Subscription<S>[] = [];
  next = 0;

  constructor(name: string) {
    this.name = name;
  }

  find(clientId: string): Subscription<S> | undefined {
    for (const member of this.members) {
      if (member.subscriber.clientId === clientId) return member;
    }
    return undefined;
  }

  /** Joins at the tail of the rotation: after everyone already waiting for a message. */
  join(member: Subscription<S>): void {
    this.members.splice(this.next, 0, member);
    if (this.members.length > 1) this.next++;
  }

  /** Leaves the rotation without disturbing whose turn it is. */
  leave(member: Subscription<S>): void {
    const at = this.members.indexOf(member);
    if (at < 0) return;
    this.members.splice(at, 1);
    if (at < this.next) this.next--;
    if (this.next >= this.members.length) this.next = 0;
  }

  /** The member whose turn it is; the turn passes to the next one. */
  take(): Subscription<S> | undefined {
    const member = this.members[this.next];
    this.next = this.next + 1 >= this.members.length ? 0 : this.next + 1;
    return member;
  }
}

/** One topic level. `+` and `#` children are also kept in fields for the match path. */
export class TreeNode<S extends Subscriber> {
  readonly level: string;
  readonly parent: TreeNode<S> | null;
  /** All children in creation order (the dump's order), wildcards included. */
  children: Map<string, TreeNode<S>> | null = null;
  plusChild: TreeNode<S> | null = null;
  hashChild: TreeNode<S> | null = null;
  /** Normal subscriptions ending here (normal tree only). */
  subscriptions: SubscriptionList<S> | null = null;
  /** Share groups ending here, in creation order (shared tree only). */
  groups: ShareGroup<S>[] | null = null;

  constructor(level: string, parent: TreeNode<S> | null) {
    this.level = level;
    this.parent = parent;
  }

  child(level: string): TreeNode<S> | undefined {
    return this.children?.get(level);
  }

  addChild(level: string): TreeNode<S> {
    const node = new TreeNode<S>(level, this);
    this.children ??= new Map();
    this.children.set(level, node);
    if (level === '+') this.plusChild = node;
    else if (level === '#') this.hashChild = node;
    return node;
  }

  findGroup(name: string): ShareGroup<S> | undefined {
    if (this.groups === null) return undefined;
    for (const group of this.groups) {
      if (group.name === name) return group;
    }
    return undefined;
  }

  isEmpty(): boolean {
    return this.children === null && this.subscriptions === null && this.groups === null;
  }

  removeChild(level: string): void {
    if (this.children === null) return;
    this.children.delete(level);
    if (this.children.size === 0) this.children = null;
    if (level === '+') this.plusChild = null;
    else if (level === '#') this.hashChild = null;
  }
}

/** Unlinks `node` and its ancestors while they are empty, stopping below the root. */
export function pruneEmpty<S extends Subscriber>(node: TreeNode<S>): void {
  let current = node;
  while (current.parent !== null && current.isEmpty()) {
    current.parent.removeChild(current.level);
    current = current.parent;
  }
}
