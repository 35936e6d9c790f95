import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RetainStore } from '../../../src/broker/router/retain-store.ts';

function collect(topic: string, message: string, out: string[]): void {
  assert.equal(message, `m:${topic}`, 'the message retained for this topic');
  out.push(topic);
}

function storeWith(...topics: string[]): RetainStore<string> {
  const store = new RetainStore<string>();
  for (const topic of topics) store.set(topic, `m:${topic}`);
  return store;
}

function matches(store: RetainStore<string>, filter: string): string[] {
  const out: string[] = [];
  store.match(filter, collect, out);
  return out;
}

describe('RetainStore set / get / delete', () => {
  test('set, replace, delete, and size counts messages', () => {
    const store = new RetainStore<string>();
    assert.equal(store.size, 0);
    store.set('a/b', 'one');
    store.set('a', 'two');
    assert.equal(store.size, 2);
    assert.equal(store.get('a/b'), 'one');
    assert.equal(store.get('a'), 'two');
    assert.equal(store.get('a/c'), undefined);
    assert.equal(store.get('a/b/c'), undefined);

    store.set('a/b', 'three');
    assert.equal(store.size, 2, 'replacing does not add');
    assert.equal(store.get('a/b'), 'three');

    assert.equal(store.delete('a/b'), true);
    assert.equal(store.delete('a/b'), false);
    assert.equal(store.delete('nothing/here'), false);
    assert.equal(store.get('a/b'), undefined);
    assert.equal(store.size, 1);

    store.set('a', null);
    assert.equal(store.size, 0);
    assert.equal(store.get('a'), undefined);
  });

  test('deleting a parent topic keeps its children', () => {
    const store = storeWith('a', 'a/b');
    assert.equal(store.delete('a'), true);
    assert.equal(store.get('a'), undefined);
    assert.deepEqual(matches(store, 'a/#'), ['a/b']);
  });

  test('empty levels are distinct topics', () => {
    const store = storeWith('a//b', 'a/b', '/a', 'a/');
    assert.deepEqual(matches(store, 'a/+/b'), ['a//b']);
    assert.deepEqual(matches(store, '+/a'), ['/a']);
    assert.deepEqual(matches(store, 'a/+'), ['a/', 'a/b'], 'a// was created first');
    assert.equal(store.get('a//b'), 'm:a//b');
  });
});

describe('RetainStore match order (as Mosquitto delivers on SUBSCRIBE)', () => {
  // Retained in this order against Debian's Mosquitto 2.0.11, then each filter subscribed
  // with mosquitto_sub: the lists below are the order it delivered them.
  const published = ['a/b/c', 'a', 'a/d', 'a/b', 'x', 'a/b/e'];
  const wire: [string, string[]][] = [
    ['a/#', ['a/b', 'a/b/c', 'a/b/e', 'a/d', 'a']],
    ['#', ['a', 'a/b', 'a/b/c', 'a/b/e', 'a/d', 'x']],
    ['+/#', ['a/b', 'a/b/c', 'a/b/e', 'a/d', 'a', 'x']],
    ['a/+', ['a/b', 'a/d']],
    ['+/b/#', ['a/b/c', 'a/b/e', 'a/b']],
    ['+', ['a', 'x']],
    ['a/b/#', ['a/b/c', 'a/b/e', 'a/b']],
  ];
  for (const [filter, expected] of wire) {
    test(`${filter}: ${expected.join(' ')}`, () => {
      assert.deepEqual(matches(storeWith(...published), filter), expected);
    });
  }

  test('replacing a message keeps its place; delete then set moves it last', () => {
    const store = storeWith('a', 'b', 'c');
    store.set('a', 'm:a');
    assert.deepEqual(matches(store, '+'), ['a', 'b', 'c']);
    store.delete('a');
    store.set('a', 'm:a');
    assert.deepEqual(matches(store, '+'), ['b', 'c', 'a']);
  });

  test('a deleted subtree is freed, so it is recreated at the end', () => {
    const store = storeWith('a/b/c', 'x');
    store.delete('a/b/c');
    store.set('a/b/c', 'm:a/b/c');
    assert.deepEqual(matches(store, '#'), ['x', 'a/b/c']);
  });
});

describe('RetainStore $ topics', () => {
  test('$SYS retained messages are not matched by # or a first-level +', () => {
    const store = storeWith('$SYS/broker/uptime', '$SYS', 'a', '$other/x');
    assert.deepEqual(matches(store, '#'), ['a']);
    assert.deepEqual(matches(store, '+'), ['a']);
    assert.deepEqual(matches(store, '+/broker/uptime'), []);
    assert.deepEqual(matches(store, '+/#'), ['a']);
    assert.deepEqual(matches(store, '$SYS/#'), ['$SYS/broker/uptime', '$SYS']);
    assert.deepEqual(matches(store, '$SYS/+/uptime'), ['$SYS/broker/uptime']);
    assert.deepEqual(matches(store, '$other/+'), ['$other/x']);
  });

  test('$x/# matches $x even when $x has no children (Mosquitto 2.0 misses it)', () => {
    const store = storeWith('$x');
    assert.deepEqual(matches(store, '$x/#'), ['$x']);
    assert.deepEqual(matches(store, '$x'), ['$x']);
  });
});

describe('RetainStore visitors', () => {
  function deleteExpired(
    topic: string,
    _message: string,
    context: { store: RetainStore<string>; seen: string[] },
  ): void {
    context.seen.push(topic);
    context.store.delete(topic);
  }

  test('a visitor may delete the topic it is visiting (lazy expiry)', () => {
    const store = storeWith('a', 'a/b', 'a/b/c', 'a/d', 'x');
    const context = { store, seen: [] as string[] };
    store.match('#', deleteExpired, context);
    assert.deepEqual(context.seen, ['a', 'a/b', 'a/b/c', 'a/d', 'x']);
    assert.equal(store.size, 0);
    assert.deepEqual(matches(store, '#'), []);
    store.set('q', 'm:q');
    assert.deepEqual(matches(store, '#'), ['q']);
  });
});
