/**
 * MQTT 5 properties (Mosquitto's 12-prop-* tests): passed through unchanged and in order,
 * message expiry, topic aliases, subscription identifiers, request/response.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { toHex } from '../helpers/packet-bytes.ts';
import type { WireProperty } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { settle, startTestBroker } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';

async function v5Subscriber(
  t: TestBroker,
  clientId: string,
  options = 1,
  subscribeProps: WireProperty[] = [],
) {
  const { client } = await t.rawConnect({ version: 5, clientId });
  client.send(
    wire.subscribe({
      version: 5,
      packetId: 1,
      subscriptions: [{ filter: 't/#', options }],
      properties: subscribeProps,
    }),
  );
  await client.expectPacket();
  return client;
}

describe('pass-through', () => {
  test('PFI, content type, response topic, correlation data and user properties, in order', async () => {
    const t = await startTestBroker();
    try {
      const sub = await v5Subscriber(t, 'sub');
      const properties: WireProperty[] = [
        { id: 0x26, value: ['k1', 'v1'] },
        { id: 0x01, value: 1 },
        { id: 0x03, value: 'text/plain' },
        { id: 0x08, value: 'reply/here' },
        { id: 0x09, value: Buffer.from([1, 2, 3]) },
        { id: 0x26, value: ['k1', 'v2'] },
      ];
      const { client } = await t.rawConnect({ version: 5, clientId: 'pub' });
      client.send(
        wire.publish({ version: 5, topic: 't/x', payload: 'p', qos: 1, packetId: 4, properties }),
      );
      await client.expectPacket();
      // User properties travel together (our Properties keep them as one ordered list).
      const expected: WireProperty[] = [
        { id: 0x26, value: ['k1', 'v1'] },
        { id: 0x26, value: ['k1', 'v2'] },
        { id: 0x01, value: 1 },
        { id: 0x03, value: 'text/plain' },
        { id: 0x08, value: 'reply/here' },
        { id: 0x09, value: Buffer.from([1, 2, 3]) },
      ];
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(
          wire.publish({
            version: 5,
            topic: 't/x',
            payload: 'p',
            qos: 1,
            packetId: 1,
            properties: expected,
          }),
        ),
      );
    } finally {
      await t.close();
    }
  });

  test('Request Response Information is accepted; no Response Information is returned', async () => {
    const t = await startTestBroker();
    try {
      const { connack } = await t.rawConnect({ version: 5, properties: [{ id: 0x19, value: 1 }] });
      assert.equal(toHex(connack), '20 09 00 00 06 22 00 0a 21 00 14');
    } finally {
      await t.close();
    }
  });
});

describe('message expiry', () => {
  test('the remaining interval is passed on; expired queued messages are dropped', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const expiry = [{ id: 0x11, value: 1000 }];
      const first = await t.rawConnect({
        version: 5,
        clientId: 'late',
        cleanStart: false,
        properties: expiry,
      });
      first.client.send(
        wire.subscribe({ version: 5, packetId: 1, subscriptions: [{ filter: 't/#', options: 1 }] }),
      );
      await first.client.expectPacket();
      first.client.send(wire.disconnect());
      await first.client.expectClosed();
      const { client } = await t.rawConnect({ version: 5, clientId: 'pub' });
      client.send(
        wire.publish({
          version: 5,
          topic: 't/a',
          payload: 'a',
          qos: 1,
          packetId: 1,
          properties: [{ id: 0x02, value: 10 }],
        }),
      );
      client.send(
        wire.publish({
          version: 5,
          topic: 't/b',
          payload: 'b',
          qos: 1,
          packetId: 2,
          properties: [{ id: 0x02, value: 3 }],
        }),
      );
      await client.expectPacket();
      await client.expectPacket();
      t.clock.advance(4000);
      const back = await t.rawConnect({
        version: 5,
        clientId: 'late',
        cleanStart: false,
        properties: expiry,
      });
      assert.equal(
        toHex(await back.client.expectPacket()),
        toHex(
          wire.publish({
            version: 5,
            topic: 't/a',
            payload: 'a',
            qos: 1,
            packetId: 1,
            properties: [{ id: 0x02, value: 6 }],
          }),
        ),
      );
      assert.equal((await back.client.next(50)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });
});

describe('topic aliases', () => {
  test('an alias set with a topic stands for it later on the same connection', async () => {
    const t = await startTestBroker();
    try {
      const sub = await v5Subscriber(t, 'sub', 0);
      const { client } = await t.rawConnect({ version: 5, clientId: 'alias' });
      client.send(
        wire.publish({
          version: 5,
          topic: 't/long',
          payload: '1',
          properties: [{ id: 0x23, value: 3 }],
        }),
      );
      client.send(
        wire.publish({ version: 5, topic: '', payload: '2', properties: [{ id: 0x23, value: 3 }] }),
      );
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(wire.publish({ version: 5, topic: 't/long', payload: '1' })),
      );
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(wire.publish({ version: 5, topic: 't/long', payload: '2' })),
      );
      client.send(wire.disconnect());
      await client.expectClosed();
      // A new connection starts with an empty alias table.
      const { client: again } = await t.rawConnect({ version: 5, clientId: 'alias' });
      again.send(
        wire.publish({ version: 5, topic: '', payload: '3', properties: [{ id: 0x23, value: 3 }] }),
      );
      assert.equal(toHex(await again.expectPacket()), 'e0 01 82');
    } finally {
      await t.close();
    }
  });

  test('alias 0 or above max_topic_alias: DISCONNECT 0x94', async () => {
    const t = await startTestBroker({ listener: { maxTopicAlias: 2 } });
    try {
      const { client, connack } = await t.rawConnect({ version: 5, clientId: 'a' });
      assert.equal(toHex(connack), '20 09 00 00 06 22 00 02 21 00 14');
      client.send(wire.publish({ version: 5, topic: 't', properties: [{ id: 0x23, value: 3 }] }));
      assert.equal(toHex(await client.expectPacket()), 'e0 01 94');
      await client.expectClosed();
      await settle();
      assert.ok(t.log.messages().includes('Bad socket read/write on client a: Unknown error.'));
    } finally {
      await t.close();
    }
  });
});

describe('subscription identifiers', () => {
  test('carried on live and retained deliveries; replaced on re-subscribe', async () => {
    const t = await startTestBroker();
    try {
      const { client: p } = await t.rawConnect({ version: 5, clientId: 'p' });
      p.send(wire.publish({ version: 5, topic: 't/r', payload: 'kept', retain: true }));
      await settle();
      const sub = await v5Subscriber(t, 'sub', 0, [{ id: 0x0b, value: 7 }]);
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(
          wire.publish({
            version: 5,
            topic: 't/r',
            payload: 'kept',
            retain: true,
            properties: [{ id: 0x0b, value: 7 }],
          }),
        ),
      );
      p.send(wire.publish({ version: 5, topic: 't/x', payload: 'live' }));
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(
          wire.publish({
            version: 5,
            topic: 't/x',
            payload: 'live',
            properties: [{ id: 0x0b, value: 7 }],
          }),
        ),
      );
      sub.send(
        wire.subscribe({
          version: 5,
          packetId: 2,
          subscriptions: [{ filter: 't/#', options: 0x20 }],
        }),
      );
      await sub.expectPacket();
      p.send(wire.publish({ version: 5, topic: 't/x', payload: 'plain' }));
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(wire.publish({ version: 5, topic: 't/x', payload: 'plain' })),
      );
    } finally {
      await t.close();
    }
  });
});
