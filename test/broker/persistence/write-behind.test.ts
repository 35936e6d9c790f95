/**
 * WriteBehind reduces the message-level changes of one commit period to their net effect:
 * what was added and removed in the same period never reaches the store, a delivery is
 * written once in its last state, and what was stored before is deleted or updated.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { EMPTY_PROPERTIES } from '../../../src/protocol/packets.ts';
import { Delivery, DeliveryState } from '../../../src/broker/messages/delivery.ts';
import { StoredMessage } from '../../../src/broker/messages/stored-message.ts';
import { Session } from '../../../src/broker/session.ts';
import type { PersistenceEvents } from '../../../src/broker/persistence/store.ts';
import type { RecordSource } from '../../../src/broker/persistence/write-behind.ts';
import { WriteBehind } from '../../../src/broker/persistence/write-behind.ts';
import { MessageState } from '../../../src/broker/persistence/records.ts';

/** Records each event as a short line. */
function recorder(): { events: PersistenceEvents; lines: string[] } {
  const lines: string[] = [];
  const note =
    (name: string) =>
    (...args: unknown[]): void => {
      lines.push(
        `${name} ${args
          .map((a) =>
            typeof a === 'object' && a !== null
              ? JSON.stringify(a, (k, v: unknown) => (k === 'payload' ? undefined : v))
              : String(a),
          )
          .join(' ')}`,
      );
    };
  const events = new Proxy({} as PersistenceEvents, {
    get: (_target, name) => note(String(name)),
  });
  return { events, lines };
}

const source: RecordSource = {
  baseMessageRecord: (m) => ({
    storeId: m.storeId,
    expiryTime: 0,
    topic: m.topic,
    payload: m.payload,
    sourceId: '',
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 0,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
  }),
  outgoingRecord: (clientId, d) => ({
    clientId,
    cmsgId: 0,
    storeId: d.message.storeId,
    mid: d.packetId,
    qos: d.qos,
    retain: d.retain,
    dup: d.dup,
    direction: 1,
    state: source.deliveryState(d),
    subscriptionId: 0,
  }),
  incomingRecord: (clientId, mid, m) => ({
    clientId,
    cmsgId: 0,
    storeId: m.storeId,
    mid,
    qos: m.qos,
    retain: m.retain,
    dup: false,
    direction: 0,
    state: MessageState.WaitForPubrel,
    subscriptionId: 0,
  }),
  deliveryState: (d) =>
    d.state === DeliveryState.AwaitPuback ? MessageState.WaitForPuback : MessageState.Queued,
};

let nextId = 1;
function message(topic = 't'): StoredMessage {
  const m = new StoredMessage(topic, Buffer.from('x'), 1, false, EMPTY_PROPERTIES, 0, 'p', null);
  m.storeId = nextId++;
  return m;
}

describe('WriteBehind', () => {
  test('a message stored, delivered and acknowledged in one period writes nothing', () => {
    const pending = new WriteBehind();
    const session = new Session('c', 4);
    const m = message();
    const d = new Delivery(m, 1, false, 0, 1);
    pending.baseAdded(m);
    pending.deliveryAdded(session, d);
    d.state = DeliveryState.AwaitPuback;
    pending.deliveryUpdated(session, d);
    pending.deliveryRemoved(session, d);
    pending.baseRemoved(m);
    const { events, lines } = recorder();
    pending.flush(events, source);
    assert.deepEqual(lines, []);
  });

  test('an insert is written once, in the state at flush time', () => {
    const pending = new WriteBehind();
    const session = new Session('c', 4);
    const m = message();
    const d = new Delivery(m, 1, false, 0, 9);
    pending.baseAdded(m);
    pending.deliveryAdded(session, d);
    d.state = DeliveryState.AwaitPuback;
    pending.deliveryUpdated(session, d);
    const { events, lines } = recorder();
    pending.flush(events, source);
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /^baseMessageAdd /);
    assert.match(lines[1] ?? '', /^clientMessageAdd .*"mid":9.*"state":3/);
    assert.ok(pending.isEmpty);
  });

  test('what was stored before is updated, then deleted, in later periods', () => {
    const pending = new WriteBehind();
    const session = new Session('c', 4);
    const m = message();
    const d = new Delivery(m, 1, false, 0, 2);
    pending.baseAdded(m);
    pending.deliveryAdded(session, d);
    pending.flush(recorder().events, source);

    d.state = DeliveryState.AwaitPuback;
    pending.deliveryUpdated(session, d);
    let r = recorder();
    pending.flush(r.events, source);
    assert.deepEqual(r.lines, [`clientMessageUpdate c ${m.storeId} 1 3 false`]);

    pending.deliveryUpdated(session, d);
    pending.deliveryRemoved(session, d);
    pending.baseRemoved(m);
    r = recorder();
    pending.flush(r.events, source);
    assert.deepEqual(r.lines, [
      `baseMessageDelete ${m.storeId}`,
      `clientMessageDelete c ${m.storeId} 1`,
    ]);
  });

  test('a stored message removed and added again is deleted, then inserted', () => {
    const pending = new WriteBehind();
    const m = message();
    pending.baseAdded(m);
    pending.flush(recorder().events, source);
    pending.baseRemoved(m);
    pending.baseAdded(m);
    const r = recorder();
    pending.flush(r.events, source);
    assert.equal(r.lines[0], `baseMessageDelete ${m.storeId}`);
    assert.match(r.lines[1] ?? '', /^baseMessageAdd /);
  });

  test('incoming QoS 2 messages keep their packet id; retained topics keep the last change', () => {
    const pending = new WriteBehind();
    const session = new Session('c', 4);
    const held = message();
    pending.incomingAdded(session, 65535, held);
    const a = message('r');
    const b = message('r');
    pending.retainSet('r', a);
    pending.retainSet('r', b);
    pending.retainSet('gone', a);
    pending.retainDeleted('gone');
    const r = recorder();
    pending.flush(r.events, source);
    assert.match(r.lines[0] ?? '', /^clientMessageAdd .*"mid":65535.*"direction":0/);
    assert.deepEqual(r.lines.slice(1), [
      `retainSet {"topic":"r","storeId":${b.storeId}}`,
      'retainDelete gone',
    ]);
  });

  test('a deleted session takes its waiting changes with it', () => {
    const pending = new WriteBehind();
    const session = new Session('c', 4);
    const m = message();
    pending.deliveryAdded(session, new Delivery(m, 1, false, 0, 1));
    pending.incomingAdded(session, 3, m);
    pending.forget(session);
    const r = recorder();
    pending.flush(r.events, source);
    assert.deepEqual(r.lines, []);
  });

  test('entries that came to nothing are compacted away; what is left is written once', () => {
    const pending = new WriteBehind();
    const session = new Session('c', 4);
    const kept = new Delivery(message(), 1, false, 0, 1);
    pending.deliveryAdded(session, kept);
    for (let i = 0; i < 5000; i++) {
      const d = new Delivery(message(), 1, false, 0, 2);
      pending.deliveryAdded(session, d);
      pending.deliveryRemoved(session, d);
    }
    const r = recorder();
    pending.flush(r.events, source);
    assert.equal(r.lines.length, 1);
    assert.match(r.lines[0] ?? '', /^clientMessageAdd .*"mid":1,/);
    assert.ok(pending.isEmpty);
  });
});
