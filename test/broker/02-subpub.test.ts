/**
 * Subscribe and publish (Mosquitto's 02-subpub-* tests), mostly with MQTT.js as an
 * independent client: wildcards, overlapping subscriptions, No Local, subscription
 * identifiers, shared subscriptions, unsubscribe, `$` topics.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { mqttConnect, settle, startTestBroker } from '../helpers/broker.ts';

describe('wildcards and $ topics', () => {
  test('+ and # match as specified; # never sees $ topics', async () => {
    const t = await startTestBroker();
    try {
      const sub = await mqttConnect(t.url, { clientId: 'sub' });
      await sub.client.subscribeAsync(['a/+/c', 'x/#', '#']);
      const pub = await mqttConnect(t.url, { clientId: 'pub' });
      await pub.client.publishAsync('a/b/c', '1');
      await pub.client.publishAsync('$other/topic', '2');
      await pub.client.publishAsync('x', '3');
      await settle(50);
      // 3.1.1: one copy per message even with overlapping subscriptions.
      assert.deepEqual(
        sub.received.map((m) => `${m.topic}=${m.payload}`),
        ['a/b/c=1', 'x=3'],
      );
      await sub.end();
      await pub.end();
    } finally {
      await t.close();
    }
  });

  test('clients cannot publish to $SYS: v5 PUBACK 0x87, v3 acknowledged and dropped', async () => {
    const t = await startTestBroker();
    try {
      const sub = await mqttConnect(t.url, { clientId: 'sys-sub' });
      await sub.client.subscribeAsync('$SYS/#');
      const { client } = await t.rawConnect({ version: 5, clientId: 'v5' });
      client.send(
        wire.publish({ version: 5, topic: '$SYS/x', qos: 1, packetId: 3, payload: 'no' }),
      );
      assert.equal(toHex(await client.expectPacket()), '40 03 00 03 87');
      const { client: v3 } = await t.rawConnect({ clientId: 'v3' });
      v3.send(wire.publish({ topic: '$SYS/y', qos: 1, packetId: 4, payload: 'no' }));
      assert.equal(toHex(await v3.expectPacket()), '40 02 00 04');
      await settle(30);
      assert.equal(sub.received.length, 0);
      await sub.end();
    } finally {
      await t.close();
    }
  });
});

describe('overlapping subscriptions', () => {
  test('v3: one copy at the highest QoS of the matching subscriptions', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ clientId: 'overlap' });
      client.send(
        wire.subscribe({
          packetId: 1,
          subscriptions: [
            { filter: 'a/#', options: 0 },
            { filter: 'a/b', options: 2 },
            { filter: '+/b', options: 1 },
          ],
        }),
      );
      assert.equal(toHex(await client.expectPacket()), '90 05 00 01 00 02 01');
      const pub = await mqttConnect(t.url, { clientId: 'p' });
      await pub.client.publishAsync('a/b', 'm', { qos: 2 });
      assert.equal(
        toHex(await client.expectPacket()),
        toHex(wire.publish({ topic: 'a/b', payload: 'm', qos: 2, packetId: 1 })),
      );
      assert.equal((await client.next(50)).kind, 'timeout');
      await pub.end();
    } finally {
      await t.close();
    }
  });

  test('v5: one copy per subscription, each with its subscription identifier', async () => {
    const t = await startTestBroker();
    try {
      const sub = await mqttConnect(t.url, { clientId: 's5', protocolVersion: 5 });
      await sub.client.subscribeAsync('a/#', { qos: 0, properties: { subscriptionIdentifier: 1 } });
      await sub.client.subscribeAsync('a/b', { qos: 1, properties: { subscriptionIdentifier: 2 } });
      const pub = await mqttConnect(t.url, { clientId: 'p5', protocolVersion: 5 });
      await pub.client.publishAsync('a/b', 'm', { qos: 1 });
      const received = await sub.waitForMessages(2);
      const ids = received
        .map((m) => [m.packet.qos, m.packet.properties?.subscriptionIdentifier])
        .sort();
      assert.deepEqual(ids, [
        [0, 1],
        [1, 2],
      ]);
      await sub.end();
      await pub.end();
    } finally {
      await t.close();
    }
  });
});

describe('No Local', () => {
  test('not delivered back to the publisher; the PUBACK still says subscribers matched', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ version: 5, clientId: 'nl' });
      client.send(
        wire.subscribe({
          version: 5,
          packetId: 1,
          subscriptions: [{ filter: 't', options: 0x05 }],
        }),
      );
      assert.equal(toHex(await client.expectPacket()), '90 04 00 01 00 01');
      client.send(wire.publish({ version: 5, topic: 't', qos: 1, packetId: 9, payload: 'x' }));
      assert.equal(toHex(await client.expectPacket()), '40 02 00 09');
      assert.equal((await client.next(50)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });
});

describe('PUBACK reason', () => {
  test('0x10 when nobody subscribes (v5 QoS 1); v3 plain PUBACK; QoS 2 PUBREC stays 0', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ version: 5, clientId: 'lonely' });
      client.send(wire.publish({ version: 5, topic: 'nobody', qos: 1, packetId: 1 }));
      assert.equal(toHex(await client.expectPacket()), '40 03 00 01 10');
      client.send(wire.publish({ version: 5, topic: 'nobody', qos: 2, packetId: 2 }));
      assert.equal(toHex(await client.expectPacket()), '50 02 00 02');
      const { client: v3 } = await t.rawConnect({ clientId: 'lonely3' });
      v3.send(wire.publish({ topic: 'nobody', qos: 1, packetId: 1 }));
      assert.equal(toHex(await v3.expectPacket()), '40 02 00 01');
    } finally {
      await t.close();
    }
  });
});

describe('shared subscriptions', () => {
  test('round robin within a group, every group gets each message, also for 3.1.1', async () => {
    const t = await startTestBroker();
    try {
      const a = await mqttConnect(t.url, { clientId: 'a' });
      const b = await mqttConnect(t.url, { clientId: 'b' });
      const c = await mqttConnect(t.url, { clientId: 'c', protocolVersion: 5 });
      await a.client.subscribeAsync('$share/g/jobs/+');
      await b.client.subscribeAsync('$share/g/jobs/+');
      await c.client.subscribeAsync('$share/other/jobs/#');
      const pub = await mqttConnect(t.url, { clientId: 'p' });
      for (let i = 0; i < 4; i++) await pub.client.publishAsync('jobs/x', String(i));
      await c.waitForMessages(4);
      await waitCount(() => a.received.length + b.received.length, 4);
      assert.equal(a.received.length, 2);
      assert.equal(b.received.length, 2);
      for (const client of [a, b, c, pub]) await client.end();
    } finally {
      await t.close();
    }
  });
});

describe('unsubscribe', () => {
  test('stops delivery; v5 UNSUBACK 0x11 when no subscription existed; v3 UNSUBACK empty', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ version: 5, clientId: 'u5' });
      client.send(wire.subscribe({ version: 5, packetId: 1, subscriptions: ['t'] }));
      await client.expectPacket();
      client.send(wire.unsubscribe({ version: 5, packetId: 2, filters: ['t', 'never'] }));
      assert.equal(toHex(await client.expectPacket()), 'b0 05 00 02 00 00 11');
      client.send(wire.publish({ version: 5, topic: 't', payload: 'x' }));
      assert.equal((await client.next(50)).kind, 'timeout');
      const { client: v3 } = await t.rawConnect({ clientId: 'u3' });
      v3.send(wire.unsubscribe({ packetId: 3, filters: ['t'] }));
      assert.equal(toHex(await v3.expectPacket()), 'b0 02 00 03');
      await settle();
      assert.ok(t.log.lines.some((l) => l.type === 'unsubscribe' && l.message === 'u5 t'));
      assert.ok(t.log.lines.some((l) => l.type === 'subscribe' && l.message === 'u5 0 t'));
    } finally {
      await t.close();
    }
  });

  test('an invalid filter closes the connection', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ clientId: 'bad' });
      client.send(wire.subscribe({ packetId: 1, subscriptions: ['a/#/b'] }));
      await client.expectClosed();
    } finally {
      await t.close();
    }
  });
});

async function waitCount(count: () => number, expected: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (count() < expected && Date.now() < deadline) await settle(5);
  await settle(20);
}

describe('mount point', () => {
  test('topics are prefixed inside the broker and stripped on the way out; unsubscribe works', async () => {
    const t = await startTestBroker({ listener: { mountPoint: 'mp/' } });
    try {
      const inside: string[] = [];
      t.broker.on('messagePublished', (message) => inside.push(message.topic));
      const { client } = await t.rawConnect({ clientId: 'm' });
      client.send(wire.subscribe({ packetId: 1, subscriptions: ['a/#'] }));
      await client.expectPacket();
      client.send(wire.publish({ topic: 'a/b', payload: 'x' }));
      assert.equal(
        toHex(await client.expectPacket()),
        toHex(wire.publish({ topic: 'a/b', payload: 'x' })),
      );
      assert.deepEqual(inside, ['mp/a/b']);
      client.send(wire.unsubscribe({ packetId: 2, filters: ['a/#'] }));
      await client.expectPacket();
      assert.equal(t.broker.subscriptions.subscriptionCount, 0);
    } finally {
      await t.close();
    }
  });
});
