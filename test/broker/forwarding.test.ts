/**
 * The fast paths of message forwarding, checked on the wire: a received PUBLISH frame
 * sent on as it came (with its first byte and packet id patched), frames merged into one
 * write, the route cache (matches of a topic remembered until a subscription changes),
 * and messages that outlive the read they arrived in (queued, held, retained).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { settle, startTestBroker } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';
import type { RawClient } from '../helpers/raw-client.ts';

async function subscriber(
  t: TestBroker,
  clientId: string,
  filter: string,
  options: number,
  version: wire.WireVersion = 4,
): Promise<RawClient> {
  const { client } = await t.rawConnect({ clientId, version });
  client.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter, options }], version }));
  await client.expectPacket();
  return client;
}

async function unsubscribe(client: RawClient, filter: string): Promise<void> {
  client.send(wire.unsubscribe({ packetId: 2, filters: [filter] }));
  await client.expectPacket();
}

const hexOf = (options: wire.PublishOptions): string => toHex(wire.publish(options));

describe('a received frame forwarded as it came', () => {
  test('RETAIN is cleared for live delivery, DUP dropped, QoS and packet id per recipient', async () => {
    const t = await startTestBroker();
    try {
      const q0 = await subscriber(t, 'q0', 't/#', 0);
      const q1 = await subscriber(t, 'q1', 't/#', 1);
      const q2 = await subscriber(t, 'q2', 't/#', 2);
      const { client } = await t.rawConnect({ clientId: 'pub' });

      client.send(wire.publish({ topic: 't/r', payload: 'kept', retain: true }));
      const live = hexOf({ topic: 't/r', payload: 'kept' });
      assert.equal(toHex(await q0.expectPacket()), live);
      assert.equal(toHex(await q1.expectPacket()), live);
      assert.equal(toHex(await q2.expectPacket()), live);

      client.send(wire.publish({ topic: 't/d', payload: 'dup', qos: 1, packetId: 9, dup: true }));
      assert.equal(toHex(await client.expectPacket()), '40 02 00 09');
      assert.equal(toHex(await q0.expectPacket()), hexOf({ topic: 't/d', payload: 'dup' }));
      assert.equal(
        toHex(await q1.expectPacket()),
        hexOf({ topic: 't/d', payload: 'dup', qos: 1, packetId: 1 }),
      );
      assert.equal(
        toHex(await q2.expectPacket()),
        hexOf({ topic: 't/d', payload: 'dup', qos: 1, packetId: 1 }),
      );

      client.send(wire.publish({ topic: 't/q2', payload: 'two', qos: 2, packetId: 3 }));
      await client.expectPacket();
      client.send(wire.pubrel(3));
      await client.expectPacket();
      assert.equal(toHex(await q0.expectPacket()), hexOf({ topic: 't/q2', payload: 'two' }));
      assert.equal(
        toHex(await q1.expectPacket()),
        hexOf({ topic: 't/q2', payload: 'two', qos: 1, packetId: 2 }),
      );
      assert.equal(
        toHex(await q2.expectPacket()),
        hexOf({ topic: 't/q2', payload: 'two', qos: 2, packetId: 2 }),
      );

      // The retained copy (kept beyond the read it came in) goes out with RETAIN set.
      const late = await subscriber(t, 'late', 't/r', 0);
      assert.equal(
        toHex(await late.expectPacket()),
        hexOf({ topic: 't/r', payload: 'kept', retain: true }),
      );
    } finally {
      await t.close();
    }
  });

  test('MQTT 5 without properties is forwarded as is; with properties it is re-encoded', async () => {
    const t = await startTestBroker();
    try {
      const v5 = await subscriber(t, 'v5', 'p/#', 1, 5);
      const v4 = await subscriber(t, 'v4', 'p/#', 1, 4);
      const { client } = await t.rawConnect({ clientId: 'pub5', version: 5 });

      client.send(
        wire.publish({ topic: 'p/a', payload: 'plain', qos: 1, packetId: 4, version: 5 }),
      );
      await client.expectPacket();
      assert.equal(
        toHex(await v5.expectPacket()),
        hexOf({ topic: 'p/a', payload: 'plain', qos: 1, packetId: 1, version: 5 }),
      );
      assert.equal(
        toHex(await v4.expectPacket()),
        hexOf({ topic: 'p/a', payload: 'plain', qos: 1, packetId: 1 }),
      );

      const userProperty = { id: 0x26, value: ['k', 'v'] } as const;
      client.send(
        wire.publish({
          topic: 'p/b',
          payload: 'props',
          qos: 1,
          packetId: 5,
          version: 5,
          properties: [userProperty],
        }),
      );
      await client.expectPacket();
      assert.equal(
        toHex(await v5.expectPacket()),
        hexOf({
          topic: 'p/b',
          payload: 'props',
          qos: 1,
          packetId: 2,
          version: 5,
          properties: [userProperty],
        }),
      );
      assert.equal(
        toHex(await v4.expectPacket()),
        hexOf({ topic: 'p/b', payload: 'props', qos: 1, packetId: 2 }),
      );
    } finally {
      await t.close();
    }
  });

  test('a PUBLISH split over many reads, and a burst in one read, arrive intact and in order', async () => {
    const t = await startTestBroker();
    try {
      const sub = await subscriber(t, 'sub', 's/#', 0);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      const big = Buffer.alloc(3000, 0x61);
      const frame = wire.publish({ topic: 's/big', payload: big });
      for (let i = 0; i < frame.length; i += 700) {
        client.send(frame.subarray(i, i + 700));
        await settle(5);
      }
      assert.equal(toHex(await sub.expectPacket()), toHex(frame));

      const burst: Buffer[] = [];
      for (let i = 0; i < 50; i++)
        burst.push(wire.publish({ topic: `s/${i % 3}`, payload: `m${i}` }));
      client.send(Buffer.concat(burst));
      for (let i = 0; i < 50; i++)
        assert.equal(toHex(await sub.expectPacket()), toHex(burst[i] ?? Buffer.alloc(0)));
    } finally {
      await t.close();
    }
  });
});

describe('the route cache', () => {
  test('a repeated topic follows subscribe and unsubscribe', async () => {
    const t = await startTestBroker();
    try {
      const a = await subscriber(t, 'a', 'c/+', 0);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      const message = (n: number): Buffer => wire.publish({ topic: 'c/x', payload: `n${n}` });

      client.send(message(1));
      assert.equal(toHex(await a.expectPacket()), toHex(message(1)));
      const b = await subscriber(t, 'b', 'c/x', 0);
      client.send(message(2));
      assert.equal(toHex(await a.expectPacket()), toHex(message(2)));
      assert.equal(toHex(await b.expectPacket()), toHex(message(2)));
      await unsubscribe(a, 'c/+');
      client.send(message(3));
      assert.equal(toHex(await b.expectPacket()), toHex(message(3)));
      assert.equal((await a.next(50)).kind, 'timeout');
      // A session that ends takes its subscriptions with it.
      b.destroy();
      await settle();
      const c = await subscriber(t, 'c', 'c/#', 0);
      client.send(message(4));
      assert.equal(toHex(await c.expectPacket()), toHex(message(4)));
      assert.equal((await a.next(50)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });

  test('shared subscriptions still rotate per message on a repeated topic', async () => {
    const t = await startTestBroker();
    try {
      const one = await subscriber(t, 'one', '$share/g/s/t', 0);
      const two = await subscriber(t, 'two', '$share/g/s/t', 0);
      const all = await subscriber(t, 'all', 's/t', 0);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      for (let i = 0; i < 4; i++) client.send(wire.publish({ topic: 's/t', payload: `${i}` }));
      const got = async (c: RawClient): Promise<string[]> => {
        const out: string[] = [];
        for (;;) {
          const event = await c.next(100);
          if (event.kind !== 'packet') return out;
          out.push(event.bytes.subarray(7).toString());
        }
      };
      assert.deepEqual(await got(all), ['0', '1', '2', '3']);
      const first = await got(one);
      const second = await got(two);
      assert.equal(first.length, 2);
      assert.equal(second.length, 2);
      assert.deepEqual([...first, ...second].sort(), ['0', '1', '2', '3']);
    } finally {
      await t.close();
    }
  });
});

describe('messages that outlive their read', () => {
  test('queued for an offline session and in flight: delivered intact later', async () => {
    const t = await startTestBroker();
    try {
      const { client: sub } = await t.rawConnect({ clientId: 'durable', cleanStart: false });
      sub.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter: 'o/#', options: 1 }] }));
      await sub.expectPacket();
      sub.destroy();
      await settle();
      const { client } = await t.rawConnect({ clientId: 'pub' });
      // Other traffic in the same read as the queued message, and more reads after it.
      client.send(
        Buffer.concat([
          wire.publish({ topic: 'o/1', payload: 'first', qos: 1, packetId: 1 }),
          wire.publish({ topic: 'x', payload: 'noise' }),
        ]),
      );
      await client.expectPacket();
      for (let i = 0; i < 20; i++) client.send(wire.publish({ topic: 'x', payload: `noise ${i}` }));
      client.send(wire.publish({ topic: 'o/2', payload: 'second', qos: 1, packetId: 2 }));
      await client.expectPacket();
      await settle();
      const { client: back, connack } = await t.rawConnect({
        clientId: 'durable',
        cleanStart: false,
      });
      assert.equal(toHex(connack), '20 02 01 00');
      assert.equal(
        toHex(await back.expectPacket()),
        hexOf({ topic: 'o/1', payload: 'first', qos: 1, packetId: 1 }),
      );
      assert.equal(
        toHex(await back.expectPacket()),
        hexOf({ topic: 'o/2', payload: 'second', qos: 1, packetId: 2 }),
      );
    } finally {
      await t.close();
    }
  });
});
