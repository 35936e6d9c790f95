/**
 * Large messages are not copied per recipient: a 1 MB QoS 1 PUBLISH relayed to ten
 * subscribers costs the broker one Buffer of 1 MB (the frame joined from the socket's
 * 64 KiB reads), not one per subscriber plus a copy to keep the message. Observed by
 * counting the large Buffers allocated while the message is relayed (the subscribers
 * here only keep the chunks their sockets read, allocating nothing through Buffer.*).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { startTestBroker } from '../helpers/broker.ts';
import { connect, publish, subscribe } from '../helpers/packet-bytes.ts';

const PAYLOAD_BYTES = 1024 * 1024;
const SUBSCRIBERS = 10;
const CONNACK_BYTES = 4;
const SUBACK_BYTES = 5;

/** A client that keeps every chunk it reads and resolves once `total` bytes arrived. */
class ChunkCollector {
  readonly chunks: Buffer[] = [];
  received = 0;
  #waiter: { total: number; resolve: () => void } | null = null;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.received += chunk.length;
      const waiter = this.#waiter;
      if (waiter !== null && this.received >= waiter.total) {
        this.#waiter = null;
        waiter.resolve();
      }
    });
  }

  static async open(port: number): Promise<ChunkCollector> {
    const socket = netConnect({ port, host: '127.0.0.1' });
    await once(socket, 'connect');
    return new ChunkCollector(socket);
  }

  until(total: number): Promise<void> {
    if (this.received >= total) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiter = { total, resolve };
    });
  }
}

/** Counts the Buffers of at least `minimum` bytes made through Buffer.* while `body` runs. */
async function countLargeAllocations(minimum: number, body: () => Promise<void>): Promise<number> {
  // Static functions of Buffer: called with Buffer as `this` below.
  /* eslint-disable @typescript-eslint/unbound-method */
  const original = {
    alloc: Buffer.alloc,
    allocUnsafe: Buffer.allocUnsafe,
    allocUnsafeSlow: Buffer.allocUnsafeSlow,
  };
  /* eslint-enable @typescript-eslint/unbound-method */
  let count = 0;
  const counting = <F extends (size: number, ...rest: never[]) => Buffer>(make: F): F =>
    ((size: number, ...rest: never[]): Buffer => {
      if (size >= minimum) count++;
      return make.call(Buffer, size, ...rest);
    }) as F;
  Buffer.alloc = counting(original.alloc);
  Buffer.allocUnsafe = counting(original.allocUnsafe);
  Buffer.allocUnsafeSlow = counting(original.allocUnsafeSlow);
  try {
    await body();
  } finally {
    Buffer.alloc = original.alloc;
    Buffer.allocUnsafe = original.allocUnsafe;
    Buffer.allocUnsafeSlow = original.allocUnsafeSlow;
  }
  return count;
}

test('a 1 MB QoS 1 message to 10 subscribers is relayed with one 1 MB Buffer, not eleven', async (t) => {
  const tb = await startTestBroker();
  const sockets: Socket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await tb.close();
  });

  const subscribers: ChunkCollector[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const subscriber = await ChunkCollector.open(tb.port);
    sockets.push(subscriber.socket);
    subscriber.socket.write(connect({ clientId: `big-sub-${String(i)}` }));
    subscriber.socket.write(subscribe({ subscriptions: [{ filter: 'big/t', options: 1 }] }));
    await subscriber.until(CONNACK_BYTES + SUBACK_BYTES);
    subscribers.push(subscriber);
  }
  const publisher = await ChunkCollector.open(tb.port);
  sockets.push(publisher.socket);
  publisher.socket.write(connect({ clientId: 'big-pub' }));
  await publisher.until(CONNACK_BYTES);

  const payload = Buffer.alloc(PAYLOAD_BYTES);
  for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32BE(i, i);
  const frame = publish({ topic: 'big/t', payload, qos: 1, packetId: 7 });
  const expectedBytes = CONNACK_BYTES + SUBACK_BYTES + frame.length;

  const large = await countLargeAllocations(PAYLOAD_BYTES, async () => {
    publisher.socket.write(frame);
    await Promise.all(subscribers.map((s) => s.until(expectedBytes)));
    await publisher.until(CONNACK_BYTES + 4); // its PUBACK
  });
  // The decoder's join of the 64 KiB reads; before, each subscriber's output buffer
  // and the kept message had a copy of their own too (12).
  assert.equal(large, 1, `Buffers of 1 MB or more allocated while relaying: ${String(large)}`);

  for (const subscriber of subscribers) {
    const received = Buffer.concat(subscriber.chunks);
    assert.equal(received.length, expectedBytes);
    const delivered = received.subarray(CONNACK_BYTES + SUBACK_BYTES);
    // Same frame but for the packet id the broker chose for this subscriber.
    const id = delivered.readUInt16BE(frame.length - payload.length - 2);
    const expected = Buffer.from(frame);
    expected.writeUInt16BE(id, frame.length - payload.length - 2);
    assert.equal(delivered.equals(expected), true, 'the subscriber got the message intact');
  }
});
