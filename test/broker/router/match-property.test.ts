/**
 * Properties: for random filters and topics, the subscription tree and the retain store
 * find exactly what a naive matcher, written here from the spec, says matches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  SubscriptionTree,
  type SubscriptionEntry,
} from '../../../src/broker/router/subscription-tree.ts';
import { RetainStore } from '../../../src/broker/router/retain-store.ts';

/** [MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.2-1], by the letter. */
function referenceMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const level = fc.constantFrom('a', 'b', '', '$s', 'a$');
const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'));
const generatedFilter = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
const filterArb = fc.oneof(generatedFilter, fc.constantFrom('#', '+', '+/#', '$s/#'));

function collect(entry: SubscriptionEntry<{ clientId: string }>, out: string[]): void {
  out.push(`${entry.subscriber.clientId}|${entry.filter}`);
}

function collectTopic(topic: string, _message: number, out: string[]): void {
  out.push(topic);
}

test('SubscriptionTree.match visits exactly the matching (client, filter) pairs', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('c1', 'c2', 'c3'), filterArb), { maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.array(topicArb, { minLength: 1, maxLength: 8 }),
      (subscriptions, removals, topics) => {
        const tree = new SubscriptionTree<{ clientId: string }>();
        const live = new Map<string, [string, string]>();
        for (const [clientId, filter] of subscriptions) {
          const { isNew } = tree.add({ clientId }, filter, {
            qos: 0,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0,
            subscriptionId: 0,
          });
          const key = `${clientId}|${filter}`;
          assert.equal(isNew, !live.has(key));
          live.set(key, [clientId, filter]);
        }
        for (const r of removals) {
          const keys = [...live.keys()];
          const key = keys[r % Math.max(keys.length, 1)];
          if (key === undefined) break;
          const [clientId, filter] = live.get(key)!;
          assert.equal(tree.remove({ clientId }, filter), true);
          live.delete(key);
        }
        assert.equal(tree.subscriptionCount, live.size);
        for (const topic of topics) {
          const got: string[] = [];
          tree.match(topic, collect, got);
          const expected = [...live.entries()]
            .filter(([, [, filter]]) => referenceMatches(filter, topic))
            .map(([key]) => key);
          assert.deepEqual(got.sort(), expected.sort(), `topic ${JSON.stringify(topic)}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('RetainStore.match visits exactly the matching retained topics, each once', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(topicArb, fc.boolean()), { maxLength: 30 }),
      fc.array(filterArb, { minLength: 1, maxLength: 8 }),
      (operations, filters) => {
        const store = new RetainStore<number>();
        const live = new Set<string>();
        for (const [i, [topic, keep]] of operations.entries()) {
          store.set(topic, keep ? i : null);
          if (keep) live.add(topic);
          else live.delete(topic);
        }
        assert.equal(store.size, live.size);
        for (const filter of filters) {
          const got: string[] = [];
          store.match(filter, collectTopic, got);
          const expected = [...live].filter((topic) => referenceMatches(filter, topic));
          assert.deepEqual(got.sort(), expected.sort(), `filter ${JSON.stringify(filter)}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

type GroupOperation =
  | { readonly kind: 'join'; readonly id: string }
  | { readonly kind: 'leave'; readonly id: string }
  | { readonly kind: 'publish' };

const memberId = fc.constantFrom('a', 'b', 'c', 'd', 'e');
const groupOperation: fc.Arbitrary<GroupOperation> = fc.oneof(
  fc.record({ kind: fc.constant('join' as const), id: memberId }),
  fc.record({ kind: fc.constant('leave' as const), id: memberId }),
  fc.record({ kind: fc.constant('publish' as const) }),
  fc.record({ kind: fc.constant('publish' as const) }),
);

test("share group rotation is Mosquitto's list: head served, then moved to the tail", () => {
  fc.assert(
    fc.property(fc.array(groupOperation, { maxLength: 60 }), (operations) => {
      const tree = new SubscriptionTree<{ clientId: string }>();
      const filter = '$share/g/t/#';
      const model: string[] = [];
      for (const operation of operations) {
        if (operation.kind === 'join') {
          const options = {
            qos: 1 as const,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0 as const,
            subscriptionId: 0,
          };
          const { isNew } = tree.add({ clientId: operation.id }, filter, options);
          assert.equal(isNew, !model.includes(operation.id));
          if (isNew) model.push(operation.id);
        } else if (operation.kind === 'leave') {
          const at = model.indexOf(operation.id);
          assert.equal(tree.remove({ clientId: operation.id }, filter), at >= 0);
          if (at >= 0) model.splice(at, 1);
        } else {
          const got: string[] = [];
          tree.match('t/x', collect, got);
          const head = model.shift();
          assert.deepEqual(got, head === undefined ? [] : [`${head}|${filter}`]);
          if (head !== undefined) model.push(head);
        }
      }
      assert.equal(tree.sharedSubscriptionCount, model.length);
    }),
    { numRuns: 1000 },
  );
});
