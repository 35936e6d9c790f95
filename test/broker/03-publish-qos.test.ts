/**
 * QoS 0/1/2 flows in both directions, byte for byte (Mosquitto's 03-publish-* tests),
 * packet ids, in-flight and queue limits, size limits.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { settle, startTestBroker } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';
import { PacketIdAllocator } from '../../src/broker/messages/packet-id.ts';

const pub = (topic: string, payload: string, qos: number, packetId?: number): string =>
  toHex(wire.publish({ topic, payload, qos, ...(packetId === undefined ? {} : { packetId }) }));

async function subscriber(t: TestBroker, clientId: string, filter: string, qos: number) {
  const { client } = await t.rawConnect({ clientId });
  client.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter, options: qos }] }));
  await client.expectPacket();
  return client;
}

describe('flows', () => {
  test('QoS 2 in: held until PUBREL, then routed; a resend before PUBREL is delivered once', async () => {
    const t = await startTestBroker();
    try {
      const sub = await subscriber(t, 'sub', 't', 2);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      client.send(wire.publish({ topic: 't', payload: 'x', qos: 2, packetId: 5 }));
      assert.equal(toHex(await client.expectPacket()), '50 02 00 05');
      assert.equal((await sub.next(50)).kind, 'timeout');
      client.send(wire.publish({ topic: 't', payload: 'x', qos: 2, packetId: 5, dup: true }));
      assert.equal(toHex(await client.expectPacket()), '50 02 00 05');
      client.send(wire.pubrel(5));
      assert.equal(toHex(await client.expectPacket()), '70 02 00 05');
      assert.equal(toHex(await sub.expectPacket()), pub('t', 'x', 2, 1));
      assert.equal((await sub.next(50)).kind, 'timeout');
      // The outgoing QoS 2 flow.
      sub.send(wire.pubrec(1));
      assert.equal(toHex(await sub.expectPacket()), '62 02 00 01');
      sub.send(wire.pubcomp(1));
      // PUBREL for an unknown id still gets PUBCOMP.
      client.send(wire.pubrel(77));
      assert.equal(toHex(await client.expectPacket()), '70 02 00 4d');
    } finally {
      await t.close();
    }
  });

  test('delivered QoS is min(published, granted)', async () => {
    const t = await startTestBroker();
    try {
      const sub = await subscriber(t, 'sub', 't', 1);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      client.send(wire.publish({ topic: 't', payload: 'a', qos: 2, packetId: 1 }));
      await client.expectPacket();
      client.send(wire.pubrel(1));
      await client.expectPacket();
      assert.equal(toHex(await sub.expectPacket()), pub('t', 'a', 1, 1));
      client.send(wire.publish({ topic: 't', payload: 'b', qos: 0 }));
      assert.equal(toHex(await sub.expectPacket()), pub('t', 'b', 0));
    } finally {
      await t.close();
    }
  });

  test('upgrade_outgoing_qos delivers at the subscription QoS', async () => {
    const t = await startTestBroker({ config: { upgradeOutgoingQos: true } });
    try {
      const sub = await subscriber(t, 'sub', 't', 2);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      client.send(wire.publish({ topic: 't', payload: 'a' }));
      assert.equal(toHex(await sub.expectPacket()), pub('t', 'a', 2, 1));
    } finally {
      await t.close();
    }
  });
});

describe('packet identifiers', () => {
  test('count from 1 per session and skip ids still in flight', async () => {
    const t = await startTestBroker();
    try {
      const sub = await subscriber(t, 'ids', 't', 1);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      for (let i = 0; i < 3; i++) client.send(wire.publish({ topic: 't', payload: `${i}` }));
      assert.equal(toHex(await sub.expectPacket()), pub('t', '0', 0));
      const { client: q1 } = await t.rawConnect({ clientId: 'pub1' });
      q1.send(wire.publish({ topic: 't', payload: 'a', qos: 1, packetId: 1 }));
      q1.send(wire.publish({ topic: 't', payload: 'b', qos: 1, packetId: 2 }));
      await sub.expectPacket();
      await sub.expectPacket();
      assert.equal(toHex(await sub.expectPacket()), pub('t', 'a', 1, 1));
      assert.equal(toHex(await sub.expectPacket()), pub('t', 'b', 1, 2));
    } finally {
      await t.close();
    }
  });

  test('the allocator wraps after 65535 and never hands out an id in flight', () => {
    const allocator = new PacketIdAllocator();
    const inFlight = new Set<number>([1, 2, 65535]);
    allocator.last = 65534;
    assert.equal(allocator.next(inFlight), 3);
    assert.equal(allocator.next(inFlight), 4);
    assert.throws(() => allocator.next({ has: () => true, size: 65535 }));
  });
});

describe('in-flight window and queue', () => {
  test('max_inflight_messages: the rest waits until an acknowledgement', async () => {
    const t = await startTestBroker({ config: { maxInflightMessages: 2 } });
    try {
      const sub = await subscriber(t, 'slow', 't', 1);
      const { client } = await t.rawConnect({ clientId: 'pub' });
      for (let i = 1; i <= 3; i++) {
        client.send(wire.publish({ topic: 't', payload: `${i}`, qos: 1, packetId: i }));
      }
      assert.equal(toHex(await sub.expectPacket()), pub('t', '1', 1, 1));
      assert.equal(toHex(await sub.expectPacket()), pub('t', '2', 1, 2));
      assert.equal((await sub.next(50)).kind, 'timeout');
      sub.send(wire.puback(1));
      assert.equal(toHex(await sub.expectPacket()), pub('t', '3', 1, 3));
    } finally {
      await t.close();
    }
  });

  test('the client Receive Maximum limits what is in flight to it', async () => {
    const t = await startTestBroker();
    try {
      const { client: sub } = await t.rawConnect({
        version: 5,
        clientId: 'rm',
        properties: [{ id: 0x21, value: 1 }],
      });
      sub.send(
        wire.subscribe({ version: 5, packetId: 1, subscriptions: [{ filter: 't', options: 1 }] }),
      );
      await sub.expectPacket();
      const { client } = await t.rawConnect({ clientId: 'pub' });
      client.send(wire.publish({ topic: 't', payload: 'a', qos: 1, packetId: 1 }));
      client.send(wire.publish({ topic: 't', payload: 'b', qos: 1, packetId: 2 }));
      const first = await sub.expectPacket();
      assert.equal(
        toHex(first),
        toHex(wire.publish({ version: 5, topic: 't', payload: 'a', qos: 1, packetId: 1 })),
      );
      assert.equal((await sub.next(50)).kind, 'timeout');
      sub.send(wire.puback(1));
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(wire.publish({ version: 5, topic: 't', payload: 'b', qos: 1, packetId: 2 })),
      );
    } finally {
      await t.close();
    }
  });

  test('max_queued_messages drops the excess, logs once, counts in $SYS dropped', async () => {
    const t = await startTestBroker({ config: { maxQueuedMessages: 2 } });
    try {
      const { client: sub } = await t.rawConnect({ clientId: 'away', cleanStart: false });
      sub.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter: 't', options: 1 }] }));
      await sub.expectPacket();
      sub.send(wire.disconnect());
      await sub.expectClosed();
      const { client } = await t.rawConnect({ clientId: 'pub' });
      for (let i = 1; i <= 4; i++) {
        client.send(wire.publish({ topic: 't', payload: `${i}`, qos: 1, packetId: i }));
        await client.expectPacket();
      }
      assert.equal(t.broker.metrics.publishDropped, 2);
      const dropLines = t.log
        .messages()
        .filter((line) => line === 'Outgoing messages are being dropped for client away.');
      assert.equal(dropLines.length, 1);
      const back = await t.rawConnect({ clientId: 'away', cleanStart: false });
      assert.equal(toHex(back.connack), '20 02 01 00');
      assert.equal(toHex(await back.client.expectPacket()), pub('t', '1', 1, 1));
      assert.equal(toHex(await back.client.expectPacket()), pub('t', '2', 1, 2));
      assert.equal((await back.client.next(50)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });

  test('queue_qos0_messages keeps QoS 0 for offline sessions', async () => {
    for (const queueQos0Messages of [false, true]) {
      const t = await startTestBroker({ config: { queueQos0Messages } });
      try {
        const { client: sub } = await t.rawConnect({ clientId: 'q0', cleanStart: false });
        sub.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter: 't', options: 1 }] }));
        await sub.expectPacket();
        sub.send(wire.disconnect());
        await sub.expectClosed();
        const { client } = await t.rawConnect({ clientId: 'pub' });
        client.send(wire.publish({ topic: 't', payload: 'zero' }));
        await settle(30);
        const back = await t.rawConnect({ clientId: 'q0', cleanStart: false });
        const event = await back.client.next(100);
        if (queueQos0Messages) {
          assert.equal(
            event.kind === 'packet' ? toHex(event.bytes) : event.kind,
            pub('t', 'zero', 0),
          );
        } else {
          assert.equal(event.kind, 'timeout');
        }
      } finally {
        await t.close();
      }
    }
  });
});

describe('limits', () => {
  test('message_size_limit: v5 PUBACK 0x95 and nothing delivered', async () => {
    const t = await startTestBroker({ config: { messageSizeLimit: 4 } });
    try {
      const sub = await subscriber(t, 'sub', 't', 1);
      const { client } = await t.rawConnect({ version: 5, clientId: 'big' });
      client.send(wire.publish({ version: 5, topic: 't', payload: '12345', qos: 1, packetId: 1 }));
      assert.equal(toHex(await client.expectPacket()), '40 03 00 01 95');
      client.send(wire.publish({ version: 5, topic: 't', payload: '1234', qos: 1, packetId: 2 }));
      assert.equal(toHex(await client.expectPacket()), '40 02 00 02');
      assert.equal(toHex(await sub.expectPacket()), pub('t', '1234', 1, 1));
    } finally {
      await t.close();
    }
  });

  test('max_packet_size: advertised, and a larger packet gets DISCONNECT 0x95', async () => {
    const t = await startTestBroker({ config: { maxPacketSize: 30 } });
    try {
      const { client, connack } = await t.rawConnect({ version: 5, clientId: 'mps' });
      assert.equal(toHex(connack), '20 0e 00 00 0b 22 00 0a 27 00 00 00 1e 21 00 14');
      client.send(wire.publish({ version: 5, topic: 't', payload: 'x'.repeat(40) }));
      assert.equal(toHex(await client.expectPacket()), 'e0 01 95');
      await client.expectClosed();
      await settle();
      assert.ok(t.log.messages().includes('Client mps disconnected due to oversize packet.'));
    } finally {
      await t.close();
    }
  });

  test("the client's Maximum Packet Size: larger messages are not sent to it", async () => {
    const t = await startTestBroker();
    try {
      const { client: sub } = await t.rawConnect({
        version: 5,
        clientId: 'small',
        properties: [{ id: 0x27, value: 20 }],
      });
      sub.send(
        wire.subscribe({ version: 5, packetId: 1, subscriptions: [{ filter: 't', options: 1 }] }),
      );
      await sub.expectPacket();
      const { client } = await t.rawConnect({ clientId: 'pub' });
      client.send(wire.publish({ topic: 't', payload: 'x'.repeat(30), qos: 1, packetId: 1 }));
      client.send(wire.publish({ topic: 't', payload: 'ok', qos: 1, packetId: 2 }));
      assert.equal(
        toHex(await sub.expectPacket()),
        toHex(wire.publish({ version: 5, topic: 't', payload: 'ok', qos: 1, packetId: 2 })),
      );
    } finally {
      await t.close();
    }
  });

  test('incoming QoS 2 beyond max_inflight_messages: PUBREC 0x97', async () => {
    const t = await startTestBroker({ config: { maxInflightMessages: 1 } });
    try {
      const { client } = await t.rawConnect({ version: 5, clientId: 'q' });
      client.send(wire.publish({ version: 5, topic: 't', qos: 2, packetId: 1 }));
      assert.equal(toHex(await client.expectPacket()), '50 02 00 01');
      client.send(wire.publish({ version: 5, topic: 't', qos: 2, packetId: 2 }));
      assert.equal(toHex(await client.expectPacket()), '50 03 00 02 97');
    } finally {
      await t.close();
    }
  });

  test('listener max_qos: advertised, and a higher QoS PUBLISH gets DISCONNECT 0x9B', async () => {
    const t = await startTestBroker({ listener: { maxQos: 1 } });
    try {
      const { client, connack } = await t.rawConnect({ version: 5, clientId: 'mq' });
      assert.equal(toHex(connack), '20 0b 00 00 08 22 00 0a 21 00 14 24 01');
      client.send(wire.publish({ version: 5, topic: 't', qos: 2, packetId: 1 }));
      assert.equal(toHex(await client.expectPacket()), 'e0 01 9b');
      await client.expectClosed();
    } finally {
      await t.close();
    }
  });
});

describe('backpressure', () => {
  test('a subscriber that stops reading: QoS 0 beyond max_queued_messages is dropped, the rest arrives', async () => {
    const t = await startTestBroker({ config: { maxQueuedMessages: 5 } });
    try {
      const socket = net.connect({ port: t.port, host: '127.0.0.1' });
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(wire.connect({ clientId: 'stalled' }));
      socket.write(wire.subscribe({ packetId: 1, subscriptions: ['big'] }));
      let received = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        received = Buffer.concat([received, chunk]);
      };
      socket.on('data', onData);
      await settle(50);
      assert.equal(toHex(received), '20 02 00 00 90 03 00 01 00');
      socket.pause();
      received = Buffer.alloc(0);
      const { client } = await t.rawConnect({ clientId: 'flood' });
      const payload = Buffer.alloc(256 * 1024, 0x61);
      const total = 120;
      for (let i = 0; i < total; i++) client.send(wire.publish({ topic: 'big', payload }));
      await waitUntil(() => t.broker.metrics.publishReceived === total);
      const dropped = t.broker.metrics.publishDropped;
      assert.ok(dropped > 0, 'some messages were dropped');
      assert.ok(
        t.log.messages().includes('Outgoing messages are being dropped for client stalled.'),
      );
      socket.resume();
      const frameSize = wire.publish({ topic: 'big', payload }).length;
      await waitUntil(() => received.length >= (total - dropped) * frameSize, 5000);
      await settle(50);
      assert.equal(received.length, (total - dropped) * frameSize);
      socket.destroy();
    } finally {
      await t.close();
    }
  });
});

async function waitUntil(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await settle(5);
  }
}
