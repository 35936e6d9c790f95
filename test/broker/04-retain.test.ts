/**
 * Retained messages (Mosquitto's 04-retain-* tests): set, replace, clear, delivery on
 * subscribe with RETAIN 1, Retain Handling, Retain As Published, retain_available false.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { mqttConnect, settle, startTestBroker } from '../helpers/broker.ts';

describe('retained messages', () => {
  test('set, replace and clear; delivered on subscribe with RETAIN 1 at min(QoS)', async () => {
    const t = await startTestBroker();
    try {
      const { client: p } = await t.rawConnect({ clientId: 'p' });
      p.send(wire.publish({ topic: 'r/a', payload: 'one', retain: true, qos: 1, packetId: 1 }));
      await p.expectPacket();
      p.send(wire.publish({ topic: 'r/a', payload: 'two', retain: true, qos: 2, packetId: 2 }));
      await p.expectPacket();
      p.send(wire.pubrel(2));
      await p.expectPacket();
      p.send(wire.publish({ topic: 'r/b', payload: 'b', retain: true }));
      p.send(wire.publish({ topic: 'r/b', payload: '', retain: true }));
      await settle();
      assert.equal(t.broker.retained.size, 1);
      const { client: s } = await t.rawConnect({ clientId: 's' });
      s.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter: 'r/#', options: 1 }] }));
      assert.equal(toHex(await s.expectPacket()), '90 03 00 01 01');
      assert.equal(
        toHex(await s.expectPacket()),
        toHex(wire.publish({ topic: 'r/a', payload: 'two', qos: 1, retain: true, packetId: 1 })),
      );
      assert.equal((await s.next(50)).kind, 'timeout');
      // v3: retained again on every SUBSCRIBE, even of an existing subscription.
      s.send(wire.subscribe({ packetId: 2, subscriptions: [{ filter: 'r/#', options: 0 }] }));
      await s.expectPacket();
      assert.equal(
        toHex(await s.expectPacket()),
        toHex(wire.publish({ topic: 'r/a', payload: 'two', retain: true })),
      );
    } finally {
      await t.close();
    }
  });

  test('live messages arrive with RETAIN 0; an empty retained publish still reaches subscribers', async () => {
    const t = await startTestBroker();
    try {
      const { client: s } = await t.rawConnect({ clientId: 's' });
      s.send(wire.subscribe({ packetId: 1, subscriptions: ['r'] }));
      await s.expectPacket();
      const { client: p } = await t.rawConnect({ clientId: 'p' });
      p.send(wire.publish({ topic: 'r', payload: 'x', retain: true }));
      assert.equal(
        toHex(await s.expectPacket()),
        toHex(wire.publish({ topic: 'r', payload: 'x' })),
      );
      p.send(wire.publish({ topic: 'r', payload: '', retain: true }));
      assert.equal(toHex(await s.expectPacket()), toHex(wire.publish({ topic: 'r', payload: '' })));
      await settle();
      assert.equal(t.broker.retained.size, 0);
    } finally {
      await t.close();
    }
  });

  test('v5 Retain Handling 0/1/2 and Retain As Published', async () => {
    const t = await startTestBroker();
    try {
      const p = await mqttConnect(t.url, { clientId: 'p', protocolVersion: 5 });
      await p.client.publishAsync('k', 'kept', { retain: true, qos: 1 });
      const s = await mqttConnect(t.url, { clientId: 's', protocolVersion: 5 });
      await s.client.subscribeAsync('k', { qos: 0, rh: 2 });
      await settle(30);
      assert.equal(s.received.length, 0);
      await s.client.subscribeAsync('k', { qos: 0, rh: 1 });
      await settle(30);
      assert.equal(s.received.length, 0, 'rh 1: only for a new subscription');
      await s.client.unsubscribeAsync('k');
      await s.client.subscribeAsync('k', { qos: 0, rh: 1 });
      await s.waitForMessages(1);
      await s.client.subscribeAsync('k', { qos: 0, rh: 0, rap: true });
      await s.waitForMessages(2);
      assert.ok(s.received.every((m) => m.packet.retain));
      await p.client.publishAsync('k', 'live', { retain: true, qos: 1 });
      await s.waitForMessages(3);
      assert.equal(s.received[2]?.packet.retain, true, 'RAP keeps the flag on live messages');
      await s.end();
      await p.end();
    } finally {
      await t.close();
    }
  });

  test('shared subscriptions never receive retained messages', async () => {
    const t = await startTestBroker();
    try {
      const p = await mqttConnect(t.url, { clientId: 'p' });
      await p.client.publishAsync('k', 'kept', { retain: true, qos: 1 });
      const s = await mqttConnect(t.url, { clientId: 's' });
      await s.client.subscribeAsync('$share/g/k');
      await settle(30);
      assert.equal(s.received.length, 0);
      await s.end();
      await p.end();
    } finally {
      await t.close();
    }
  });

  test('retain_available false: advertised; retained PUBLISH gets DISCONNECT 0x9A', async () => {
    const t = await startTestBroker({ config: { retainAvailable: false } });
    try {
      const { client, connack } = await t.rawConnect({ version: 5, clientId: 'nr' });
      assert.equal(toHex(connack), '20 0b 00 00 08 22 00 0a 25 00 21 00 14');
      client.send(wire.publish({ version: 5, topic: 't', retain: true }));
      assert.equal(toHex(await client.expectPacket()), 'e0 01 9a');
      await client.expectClosed();
      const { client: v3 } = await t.rawConnect({ clientId: 'nr3' });
      v3.send(wire.publish({ topic: 't', retain: true }));
      await v3.expectClosed();
    } finally {
      await t.close();
    }
  });
});
