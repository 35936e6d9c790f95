/**
 * Wills (Mosquitto's 07-will-* tests): published on network loss, keepalive timeout,
 * protocol error, takeover and DISCONNECT 0x04; not after a normal DISCONNECT; QoS and
 * retain; Will Delay Interval (ManualClock).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { settle, startTestBroker } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';

const will = { topic: 'will/t', payload: 'gone', qos: 1 } as const;

async function watcher(t: TestBroker) {
  const { client } = await t.rawConnect({ clientId: 'watcher' });
  client.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter: 'will/#', options: 1 }] }));
  await client.expectPacket();
  return client;
}

const willPublish = (packetId: number) =>
  toHex(wire.publish({ topic: 'will/t', payload: 'gone', qos: 1, packetId }));

describe('will publication', () => {
  test('sent when the connection drops', async () => {
    const t = await startTestBroker();
    try {
      const w = await watcher(t);
      const { client } = await t.rawConnect({ clientId: 'w', will });
      client.destroy();
      assert.equal(toHex(await w.expectPacket()), willPublish(1));
    } finally {
      await t.close();
    }
  });

  test('not sent after a normal DISCONNECT', async () => {
    const t = await startTestBroker();
    try {
      const w = await watcher(t);
      const { client } = await t.rawConnect({ clientId: 'w', will });
      client.send(wire.disconnect());
      await client.expectClosed();
      assert.equal((await w.next(80)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });

  test('sent after DISCONNECT 0x04 (v5)', async () => {
    const t = await startTestBroker();
    try {
      const w = await watcher(t);
      const { client } = await t.rawConnect({ version: 5, clientId: 'w', will });
      client.send(wire.disconnect(0x04));
      await client.expectClosed();
      assert.equal(toHex(await w.expectPacket()), willPublish(1));
    } finally {
      await t.close();
    }
  });

  test('sent on keepalive timeout and on a protocol error', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const w = await watcher(t);
      await t.rawConnect({ clientId: 'ka', will, keepAlive: 1 });
      t.clock.advance(1500);
      assert.equal(toHex(await w.expectPacket()), willPublish(1));
      const { client } = await t.rawConnect({ clientId: 'pe', will });
      client.send(hex('00 00'));
      assert.equal(toHex(await w.expectPacket()), willPublish(2));
    } finally {
      await t.close();
    }
  });

  test('sent on takeover of a clean session, with QoS and retain kept', async () => {
    const t = await startTestBroker();
    try {
      const w = await watcher(t);
      await t.rawConnect({ clientId: 'same', will: { ...will, retain: true } });
      await t.rawConnect({ clientId: 'same' });
      assert.equal(toHex(await w.expectPacket()), willPublish(1));
      await settle();
      assert.equal(t.broker.retained.get('will/t')?.payload.toString(), 'gone');
    } finally {
      await t.close();
    }
  });

  test('a will on $SYS is not published', async () => {
    const t = await startTestBroker();
    try {
      const { client: w } = await t.rawConnect({ clientId: 'watcher' });
      w.send(wire.subscribe({ packetId: 1, subscriptions: ['$SYS/#'] }));
      await w.expectPacket();
      const { client } = await t.rawConnect({
        clientId: 'w',
        will: { topic: '$SYS/x', payload: 'x' },
      });
      client.destroy();
      assert.equal((await w.next(80)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });
});

describe('Will Delay Interval', () => {
  const delayed = { ...will, properties: [{ id: 0x18, value: 5 }] };
  const expiry = [{ id: 0x11, value: 100 }];

  test('published after the delay', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const w = await watcher(t);
      const { client } = await t.rawConnect({
        version: 5,
        clientId: 'd',
        will: delayed,
        properties: expiry,
      });
      client.destroy();
      await settle();
      t.clock.advance(4999);
      assert.equal((await w.next(50)).kind, 'timeout');
      t.clock.advance(1);
      assert.equal(toHex(await w.expectPacket()), willPublish(1));
    } finally {
      await t.close();
    }
  });

  test('cancelled by reconnecting within the delay', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const w = await watcher(t);
      const { client } = await t.rawConnect({
        version: 5,
        clientId: 'd',
        will: delayed,
        properties: expiry,
      });
      client.destroy();
      await settle();
      t.clock.advance(2000);
      await t.rawConnect({ version: 5, clientId: 'd', cleanStart: false, properties: expiry });
      t.clock.advance(10_000);
      assert.equal((await w.next(50)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });

  test('sent at session expiry when that comes first', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const w = await watcher(t);
      const { client } = await t.rawConnect({
        version: 5,
        clientId: 'd',
        will: { ...will, properties: [{ id: 0x18, value: 50 }] },
        properties: [{ id: 0x11, value: 3 }],
      });
      client.destroy();
      await settle();
      t.clock.advance(3000);
      assert.equal(toHex(await w.expectPacket()), willPublish(1));
    } finally {
      await t.close();
    }
  });
});
