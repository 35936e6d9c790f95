import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SubscriptionTree,
  type Subscriber,
  type SubscriptionEntry,
  type SubscriptionOptions,
} from '../../../src/broker/router/subscription-tree.ts';
import type { QoS } from '../../../src/protocol/constants.ts';

interface Client extends Subscriber {
  readonly clientId: string;
}

function client(clientId: string): Client {
  return { clientId };
}

function opts(qos: QoS = 0, subscriptionId = 0): SubscriptionOptions {
  return { qos, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId };
}

function collect(entry: SubscriptionEntry<Client>, out: string[]): void {
  out.push(`${entry.subscriber.clientId} ${entry.filter}`);
}

function matches(tree: SubscriptionTree<Client>, topic: string): string[] {
  const out: string[] = [];
  tree.match(topic, collect, out);
  return out;
}

/** Which filters (subscribed by one client "c") match `topic`, sorted. */
function matchingFilters(filters: readonly string[], topic: string): string[] {
  const tree = new SubscriptionTree<Client>();
  const c = client('c');
  for (const filter of filters) tree.add(c, filter, opts());
  return matches(tree, topic)
    .map((line) => line.slice(2))
    .sort();
}

const INITIAL_DUMP = ['    ', '    $SYS', '    '];

describe('SubscriptionTree add / replace / remove', () => {
  test('version changes with every add and every effective remove, so match caches know', () => {
    const tree = new SubscriptionTree<Client>();
    const a = client('a');
    const v0 = tree.version;
    tree.add(a, 'x/y', opts());
    const v1 = tree.version;
    assert.notEqual(v1, v0);
    tree.add(a, 'x/y', opts(1));
    const v2 = tree.version;
    assert.notEqual(v2, v1, 'replacing options counts as a change');
    assert.equal(tree.remove(a, 'not/there'), false);
    assert.equal(tree.version, v2, 'removing nothing changes nothing');
    tree.remove(a, 'x/y');
    assert.notEqual(tree.version, v2);
    const v3 = tree.version;
    tree.add(a, '$share/g/x', opts());
    assert.notEqual(tree.version, v3);
    const v4 = tree.version;
    tree.remove(a, '$share/g/x');
    assert.notEqual(tree.version, v4);
  });

  test('a new subscription is new; the same (client, filter) again replaces its options', () => {
    const tree = new SubscriptionTree<Client>();
    const a = client('a');
    const first = tree.add(a, 'x/y', opts(1, 7));
    assert.equal(first.isNew, true);
    assert.equal(first.entry.shareGroup, null);
    assert.equal(first.entry.filter, 'x/y');
    assert.equal(tree.subscriptionCount, 1);

    const again = tree.add(a, 'x/y', opts(2, 9));
    assert.equal(again.isNew, false);
    assert.equal(again.entry, first.entry);
    assert.equal(again.entry.options.qos, 2);
    assert.equal(again.entry.options.subscriptionId, 9);
    assert.equal(tree.subscriptionCount, 1);
  });

  test('replacing keeps the place in the visit order', () => {
    const tree = new SubscriptionTree<Client>();
    tree.add(client('a'), 't', opts());
    tree.add(client('b'), 't', opts());
    tree.add(client('a'), 't', opts(2));
    assert.deepEqual(matches(tree, 't'), ['a t', 'b t']);
  });

  test('subscribers are told apart by client id; a new object with that id takes over', () => {
    const tree = new SubscriptionTree<Client>();
    const old = client('a');
    const renewed = client('a');
    tree.add(old, 't', opts());
    const { entry, isNew } = tree.add(renewed, 't', opts(1));
    assert.equal(isNew, false);
    assert.equal(entry.subscriber, renewed);
    assert.equal(tree.remove(client('a'), 't'), true);
    assert.equal(tree.subscriptionCount, 0);
  });

  test('remove reports whether the subscription existed and updates the counts', () => {
    const tree = new SubscriptionTree<Client>();
    const a = client('a');
    const b = client('b');
    tree.add(a, 'x/+', opts());
    tree.add(b, 'x/+', opts());
    tree.add(a, '$share/g/x/+', opts());
    assert.equal(tree.subscriptionCount, 3);
    assert.equal(tree.sharedSubscriptionCount, 1);

    assert.equal(tree.remove(a, 'x/#'), false, 'other filter');
    assert.equal(tree.remove(client('c'), 'x/+'), false, 'other client');
    assert.equal(tree.remove(a, '$share/h/x/+'), false, 'other group');
    assert.equal(tree.remove(a, 'x/+'), true);
    assert.equal(tree.remove(a, 'x/+'), false, 'already removed');
    assert.equal(tree.subscriptionCount, 2);
    assert.deepEqual(matches(tree, 'x/1'), ['b x/+', 'a $share/g/x/+']);

    assert.equal(tree.remove(a, '$share/g/x/+'), true);
    assert.equal(tree.sharedSubscriptionCount, 0);
    assert.equal(tree.subscriptionCount, 1);
  });

  test('removing everything frees every node (the dump is back to the empty roots)', () => {
    const tree = new SubscriptionTree<Client>();
    const filters = ['a/b/c', 'a/+/c', 'a/#', '#', '+', '/x', 'a//b', '$SYS/x', '$share/g/a/b'];
    const clients = ['c1', 'c2', 'c3'].map(client);
    for (const c of clients) for (const f of filters) tree.add(c, f, opts());
    assert.ok(tree.dump().length > INITIAL_DUMP.length);
    for (const f of filters) for (const c of clients) assert.equal(tree.remove(c, f), true);
    assert.equal(tree.subscriptionCount, 0);
    assert.deepEqual(tree.dump(), INITIAL_DUMP);
    assert.deepEqual(matches(tree, 'a/b/c'), []);
  });

  test('many subscribers on one filter: order kept through removals and compaction', () => {
    const tree = new SubscriptionTree<Client>();
    const clients = Array.from({ length: 100 }, (_, i) => client(`c${i}`));
    for (const c of clients) tree.add(c, 'busy', opts());
    const kept: string[] = [];
    for (const [i, c] of clients.entries()) {
      if (i % 3 === 0) kept.push(`${c.clientId} busy`);
      else assert.equal(tree.remove(c, 'busy'), true);
    }
    assert.deepEqual(matches(tree, 'busy'), kept);
    // Lookups still work after compaction: re-adding is a replacement, not a new entry.
    assert.equal(tree.add(client('c3'), 'busy', opts(1)).isNew, false);
    assert.equal(tree.add(client('c4'), 'busy', opts()).isNew, true);
    assert.deepEqual(matches(tree, 'busy'), [...kept, 'c4 busy']);
    assert.equal(tree.subscriptionCount, kept.length + 1);
  });
});

describe('SubscriptionTree matching', () => {
  test('+ matches exactly one level, empty levels included', () => {
    const filters = ['a/+', '+/b', '+', '+/+', 'a/+/c'];
    assert.deepEqual(matchingFilters(filters, 'a/b'), ['+/+', '+/b', 'a/+']);
    assert.deepEqual(matchingFilters(filters, 'a'), ['+']);
    assert.deepEqual(matchingFilters(filters, 'a/b/c'), ['a/+/c']);
    assert.deepEqual(matchingFilters(filters, 'a/'), ['+/+', 'a/+']);
    assert.deepEqual(matchingFilters(filters, 'a//c'), ['a/+/c']);
  });

  test('# matches the rest, including its parent level [MQTT-4.7.1-2]', () => {
    const filters = ['a/#', '#', '+/#', 'a/b/#', 'ab/#'];
    assert.deepEqual(matchingFilters(filters, 'a'), ['#', '+/#', 'a/#']);
    assert.deepEqual(matchingFilters(filters, 'a/b'), ['#', '+/#', 'a/#', 'a/b/#']);
    assert.deepEqual(matchingFilters(filters, 'a/b/c/d'), ['#', '+/#', 'a/#', 'a/b/#']);
    assert.deepEqual(matchingFilters(filters, 'abc'), ['#', '+/#']);
  });

  test('wildcards in the first level never match $ topics [MQTT-4.7.2-1]', () => {
    const filters = ['#', '+/x', '+/#', '+', '$SYS/#', '$SYS/+', '$SYS', '$foo/x', 'a/+'];
    assert.deepEqual(matchingFilters(filters, '$SYS/x'), ['$SYS/#', '$SYS/+']);
    assert.deepEqual(matchingFilters(filters, '$SYS'), ['$SYS', '$SYS/#']);
    assert.deepEqual(matchingFilters(filters, '$foo/x'), ['$foo/x']);
    // `$` anywhere else is an ordinary character.
    assert.deepEqual(matchingFilters(filters, 'a/$x'), ['#', '+/#', 'a/+']);
    assert.deepEqual(matchingFilters(filters, 'b/x'), ['#', '+/#', '+/x']);
  });

  test('empty levels are levels: a//b, leading and trailing /', () => {
    const filters = ['a//b', 'a/+/b', 'a/b', '/a', '+/a', 'a', '/#', '+/+/+', 'a/'];
    assert.deepEqual(matchingFilters(filters, 'a//b'), ['+/+/+', 'a/+/b', 'a//b']);
    assert.deepEqual(matchingFilters(filters, '/a'), ['+/a', '/#', '/a']);
    assert.deepEqual(matchingFilters(filters, 'a/'), ['a/']);
    assert.deepEqual(matchingFilters(filters, '//'), ['+/+/+', '/#']);
  });

  test('visit order is Mosquitto sub__search order; normal before shared', () => {
    const tree = new SubscriptionTree<Client>();
    const c = client('c');
    for (const f of ['#', '+/#', '+/+', '+/b', 'a/#', 'a/+', 'a/b', 'a/b/#', '$share/g/#']) {
      tree.add(c, f, opts());
    }
    tree.add(client('d'), 'a/b', opts());
    assert.deepEqual(matches(tree, 'a/b'), [
      'c a/b/#',
      'c a/b',
      'd a/b',
      'c a/+',
      'c a/#',
      'c +/b',
      'c +/+',
      'c +/#',
      'c #',
      'c $share/g/#',
    ]);
  });
});

interface Reentry {
  readonly tree: SubscriptionTree<Client>;
  readonly seen: string[];
}

/** A visitor that publishes, as a will or a bridge might: match() is re-entered. */
function publishOnVisit(entry: SubscriptionEntry<Client>, context: Reentry): void {
  context.seen.push(`${entry.subscriber.clientId} ${entry.filter}`);
  if (entry.filter === 'p/x/q') context.tree.match('r/s/t', publishOnVisit, context);
}

describe('SubscriptionTree re-entrancy', () => {
  test('a visitor may match another topic without disturbing the outer match', () => {
    const tree = new SubscriptionTree<Client>();
    tree.add(client('a'), 'p/x/q', opts());
    tree.add(client('b'), 'p/+/q', opts());
    tree.add(client('c'), 'r/s/t', opts());
    tree.add(client('d'), '#', opts());
    const context: Reentry = { tree, seen: [] };
    // After visiting p/x/q, the outer match still has to read level 2 for p/+/q.
    tree.match('p/x/q', publishOnVisit, context);
    assert.deepEqual(context.seen, ['a p/x/q', 'c r/s/t', 'd #', 'b p/+/q', 'd #']);
    assert.deepEqual(matches(tree, 'p/y/q'), ['b p/+/q', 'd #']);
  });
});

describe('SubscriptionTree shared subscriptions', () => {
  function sharedTree(...clientIds: string[]): SubscriptionTree<Client> {
    const tree = new SubscriptionTree<Client>();
    for (const id of clientIds) tree.add(client(id), '$share/g/t/+', opts());
    return tree;
  }

  function receivers(tree: SubscriptionTree<Client>, count: number, topic = 't/1'): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const got = matches(tree, topic);
      assert.equal(got.length, 1, `message ${i}: exactly one member of the group`);
      out.push((got[0] ?? '').split(' ')[0] ?? '');
    }
    return out;
  }

  test('three members: strict round-robin, equal shares over many messages', () => {
    const tree = sharedTree('a', 'b', 'c');
    const order = receivers(tree, 3000);
    const counts = new Map<string, number>();
    for (const id of order) counts.set(id, (counts.get(id) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { a: 1000, b: 1000, c: 1000 });
    for (let i = 0; i < order.length; i++) assert.equal(order[i], ['a', 'b', 'c'][i % 3]);
  });

  test('the rotation advances per message whatever topic of the filter matched', () => {
    const tree = sharedTree('a', 'b');
    assert.deepEqual(
      [...receivers(tree, 1, 't/1'), ...receivers(tree, 1, 't/2'), ...receivers(tree, 1, 't/3')],
      ['a', 'b', 'a'],
    );
  });

  test('groups are per (name, filter): each matching group gives one copy', () => {
    const tree = new SubscriptionTree<Client>();
    tree.add(client('a'), '$share/g/t/+', opts());
    tree.add(client('b'), '$share/g/t/+', opts());
    tree.add(client('c'), '$share/g/t/#', opts());
    tree.add(client('d'), '$share/h/t/+', opts());
    tree.add(client('e'), '$share/h/t/+', opts());
    assert.deepEqual(matches(tree, 't/1'), ['a $share/g/t/+', 'd $share/h/t/+', 'c $share/g/t/#']);
    assert.deepEqual(matches(tree, 't/1'), ['b $share/g/t/+', 'e $share/h/t/+', 'c $share/g/t/#']);
    assert.deepEqual(matches(tree, 'u'), []);
    assert.equal(tree.sharedSubscriptionCount, 5);
  });

  test('one client in several groups and with a normal subscription: independent entries', () => {
    const tree = new SubscriptionTree<Client>();
    const a = client('a');
    assert.equal(tree.add(a, 't', opts()).isNew, true);
    assert.equal(tree.add(a, '$share/g/t', opts()).isNew, true);
    assert.equal(tree.add(a, '$share/h/t', opts()).isNew, true);
    assert.equal(tree.add(a, '$share/h/t', opts(2)).isNew, false);
    assert.deepEqual(matches(tree, 't'), ['a t', 'a $share/g/t', 'a $share/h/t']);
    assert.equal(tree.subscriptionCount, 3);
    assert.equal(tree.sharedSubscriptionCount, 2);
    tree.remove(a, 't');
    assert.deepEqual(matches(tree, 't'), ['a $share/g/t', 'a $share/h/t']);
  });

  test('$ topics: wildcard-first shared filters skip them; $-first ones match', () => {
    const tree = new SubscriptionTree<Client>();
    tree.add(client('a'), '$share/g/#', opts());
    tree.add(client('b'), '$share/g/+/x', opts());
    tree.add(client('c'), '$share/g/$foo/x', opts());
    assert.deepEqual(matches(tree, '$foo/x'), ['c $share/g/$foo/x']);
    assert.deepEqual(matches(tree, 'foo/x'), ['b $share/g/+/x', 'a $share/g/#']);
  });

  test('shared entries carry their group and full filter', () => {
    const tree = new SubscriptionTree<Client>();
    const { entry } = tree.add(client('a'), '$share/grp/x/#', opts(1));
    assert.equal(entry.shareGroup, 'grp');
    assert.equal(entry.filter, '$share/grp/x/#');
  });

  test('a member leaving mid-rotation does not disturb whose turn it is', () => {
    let tree = sharedTree('a', 'b', 'c');
    assert.deepEqual(receivers(tree, 1), ['a']);
    tree.remove(client('b'), '$share/g/t/+'); // b was next
    assert.deepEqual(receivers(tree, 4), ['c', 'a', 'c', 'a']);

    tree = sharedTree('a', 'b', 'c');
    assert.deepEqual(receivers(tree, 2), ['a', 'b']);
    tree.remove(client('a'), '$share/g/t/+'); // a already had its turn
    assert.deepEqual(receivers(tree, 3), ['c', 'b', 'c']);

    tree = sharedTree('a', 'b', 'c');
    assert.deepEqual(receivers(tree, 2), ['a', 'b']);
    tree.remove(client('c'), '$share/g/t/+'); // c was next, and last in the array
    assert.deepEqual(receivers(tree, 3), ['a', 'b', 'a']);
  });

  test('a member joining goes to the end of the rotation', () => {
    const tree = sharedTree('a', 'b', 'c');
    assert.deepEqual(receivers(tree, 1), ['a']);
    tree.add(client('d'), '$share/g/t/+', opts());
    assert.deepEqual(receivers(tree, 8), ['b', 'c', 'a', 'd', 'b', 'c', 'a', 'd']);
  });

  test('re-subscribing replaces options without moving the member', () => {
    const tree = sharedTree('a', 'b', 'c');
    assert.deepEqual(receivers(tree, 1), ['a']);
    const { entry, isNew } = tree.add(client('b'), '$share/g/t/+', opts(2));
    assert.equal(isNew, false);
    assert.equal(entry.options.qos, 2);
    assert.deepEqual(receivers(tree, 3), ['b', 'c', 'a']);
    assert.equal(tree.sharedSubscriptionCount, 3);
  });

  test('the last member leaving removes the group; a new group starts afresh', () => {
    const tree = sharedTree('a');
    tree.remove(client('a'), '$share/g/t/+');
    assert.deepEqual(matches(tree, 't/1'), []);
    assert.deepEqual(tree.dump(), INITIAL_DUMP);
    tree.add(client('b'), '$share/g/t/+', opts());
    assert.deepEqual(receivers(tree, 2), ['b', 'b']);
  });
});

describe('SubscriptionTree dump', () => {
  test("Mosquitto's layout: normal tree then shared tree, subscribers on normal nodes", () => {
    const tree = new SubscriptionTree<Client>();
    const c1 = client('c1');
    const c2 = client('c2');
    for (const f of ['a/b', 'a/#', '+/b', '$share/g1/a/b', '$SYS/broker/#', 'a//b', '/x']) {
      tree.add(c1, f, opts(1));
    }
    for (const f of ['a/b', '$share/g1/a/b', '$share/g2/a/+', '#']) tree.add(c2, f, opts(2));
    assert.deepEqual(tree.dump(), [
      '    ',
      '      ',
      '        a',
      '          b (c1, 1) (c2, 2)',
      '          # (c1, 1)',
      '          ',
      '            b (c1, 1)',
      '        +',
      '          b (c1, 1)',
      '        ',
      '          x (c1, 1)',
      '        # (c2, 2)',
      '    $SYS',
      '      $SYS',
      '        broker',
      '          # (c1, 1)',
      '    ',
      '      ',
      '        a',
      '          b',
      '          +',
    ]);
  });

  test('other $ roots appear while used; shared $ filters hang from ""', () => {
    const tree = new SubscriptionTree<Client>();
    tree.add(client('c'), '$foo/x', opts());
    tree.add(client('c'), '$share/g/$bar', opts());
    assert.deepEqual(tree.dump(), [
      '    ',
      '    $SYS',
      '    $foo',
      '      $foo',
      '        x (c, 0)',
      '    ',
      '      ',
      '        $bar',
    ]);
    tree.remove(client('c'), '$foo/x');
    tree.remove(client('c'), '$share/g/$bar');
    // Mosquitto would go on printing an empty "$foo" root; we free it.
    assert.deepEqual(tree.dump(), INITIAL_DUMP);
  });
});
