/**
 * Retained messages, one per topic, in a trie keyed by topic level (Mosquitto's
 * retain.c). Children keep creation order, and a node keeps its place while its message
 * is replaced; a node is freed once it holds neither a message nor children, so a topic
 * deleted and retained again moves to the end of its siblings.
 *
 * Visit order of `match`, as Mosquitto 2.0 delivers on SUBSCRIBE (checked on the wire
 * against 2.0.11): a depth-first walk, siblings in creation order. Under a `#`, each node
 * comes before its own children, but the node the `#` hangs from (`a` for `a/#`) comes
 * after its whole subtree: with a, a/b and a/b/c retained, `a/#` gives a/b, a/b/c, a.
 */

import { splitLevels } from '../../protocol/topic.ts';

const DOLLAR = 0x24;

class RetainNode<M> {
  readonly level: string;
  readonly parent: RetainNode<M> | null;
  /** Creation order is the visit order. */
  children: Map<string, RetainNode<M>> | null = null;
  /** null: no retained message here (set() deletes on null, so null is never stored). */
  message: M | null = null;
  /** The full topic while a message is retained, so visits need no joining. */
  topic = '';

  constructor(level: string, parent: RetainNode<M> | null) {
    this.level = level;
    this.parent = parent;
  }
}

type RetainVisitor<M, C> = (topic: string, message: M, context: C) => void;

export class RetainStore<M> {
  private readonly root = new RetainNode<M>('', null);
  private count = 0;

  /** Number of retained messages. */
  get size(): number {
    return this.count;
  }

  /** Sets the retained message of a topic (a valid topic name); null deletes it. */
  set(topic: string, message: M | null): void {
    if (message === null) {
      this.delete(topic);
      return;
    }
    let node = this.root;
    for (const level of splitLevels(topic)) {
      let child = node.children?.get(level);
      if (child === undefined) {
        child = new RetainNode<M>(level, node);
        (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    if (node.message === null) this.count++;
    node.message = message;
    node.topic = topic;
  }

  get(topic: string): M | undefined {
    const node = this.find(topic);
    return node?.message ?? undefined;
  }

  /** Deletes the retained message of a topic; true if there was one. */
  delete(topic: string): boolean {
    const node = this.find(topic);
    if (node?.message == null) return false;
    node.message = null;
    node.topic = '';
    this.count--;
    let current = node;
    while (current.parent !== null && current.message === null && current.children === null) {
      const parent = current.parent;
      parent.children?.delete(current.level);
      if (parent.children?.size === 0) parent.children = null;
      current = parent;
    }
    return true;
  }

  /**
   * Visits the retained messages whose topic matches `filter` (a valid filter without a
   * `$share/` prefix), in Mosquitto's order (see the module note). Wildcards in the first
   * level skip `$` topics [MQTT-4.7.2-1]. `visit` may delete the topic it is given (an
   * expired message, say) but must not set retained messages.
   */
  match<C>(filter: string, visit: RetainVisitor<M, C>, context: C): void {
    searchLevel(this.root, splitLevels(filter), 0, visit, context);
  }

  /** Visits every retained message, `$` topics included, in creation order. */
  forEach<C>(visit: RetainVisitor<M, C>, context: C): void {
    if (this.root.children !== null) visitSubtree(this.root.children, false, visit, context);
  }

  private find(topic: string): RetainNode<M> | undefined {
    let node: RetainNode<M> | undefined = this.root;
    for (const level of splitLevels(topic)) {
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node;
  }
}

/** `node` has matched levels[0..index-1]; levels[index] picks among its children. */
function searchLevel<M, C>(
  node: RetainNode<M>,
  levels: readonly string[],
  index: number,
  visit: RetainVisitor<M, C>,
  context: C,
): void {
  const children = node.children;
  if (children === null) return;
  const token = levels[index] ?? '';
  if (token === '#') {
    visitSubtree(children, index === 0, visit, context);
  } else if (token === '+') {
    for (const child of children.values()) {
      if (index === 0 && child.level.charCodeAt(0) === DOLLAR) continue;
      matched(child, levels, index, visit, context);
    }
  } else {
    const child = children.get(token);
    if (child !== undefined) matched(child, levels, index, visit, context);
  }
}

/** `node` matched levels[index]. */
function matched<M, C>(
  node: RetainNode<M>,
  levels: readonly string[],
  index: number,
  visit: RetainVisitor<M, C>,
  context: C,
): void {
  if (index + 1 === levels.length) {
    visitNode(node, visit, context);
    return;
  }
  searchLevel(node, levels, index + 1, visit, context);
  // `#` also matches its parent level [MQTT-4.7.1-2]; Mosquitto visits it last.
  // (Mosquitto 2.0 skips it for `$x/#` when `$x` has no children: a bug we don't copy.)
  if (levels[index + 1] === '#') visitNode(node, visit, context);
}

/** Every node below, each before its own children; `$` first levels skipped at the root. */
function visitSubtree<M, C>(
  children: Map<string, RetainNode<M>>,
  skipDollar: boolean,
  visit: RetainVisitor<M, C>,
  context: C,
): void {
  for (const child of children.values()) {
    if (skipDollar && child.level.charCodeAt(0) === DOLLAR) continue;
    visitNode(child, visit, context);
    if (child.children !== null) visitSubtree(child.children, false, visit, context);
  }
}

function visitNode<M, C>(node: RetainNode<M>, visit: RetainVisitor<M, C>, context: C): void {
  if (node.message !== null) visit(node.topic, node.message, context);
}
