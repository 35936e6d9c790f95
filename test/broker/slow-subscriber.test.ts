/**
 * A subscriber that stops reading while a publisher floods it costs the broker only its
 * queue limits (max_queued_messages, max_queued_bytes, the in-flight window) plus the
 * socket's buffers: what the broker holds for it is sampled all through the flood and
 * must stay under that bound, however much is published.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as wire from '../helpers/packet-bytes.ts';
import { settle, startTestBroker } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';

const PAYLOAD_BYTES = 4096;
const MESSAGES = 8000; // 32 MiB published, far more than the loopback socket buffers hold
const MAX_QUEUED = 100;
const MAX_INFLIGHT = 20;

/** A full garbage collection, so that external memory counts only what is still held. */
function loadGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc: unknown = vm.runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('--expose-gc did not give a gc()');
  return gc as () => void;
}

const gc = loadGc();

async function open(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

async function waitUntil(predicate: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await settle(2);
  }
}

/** What the broker holds for one client: unsent output, the socket's buffer, its queue. */
function heldFor(t: TestBroker, clientId: string): number {
  const session = t.broker.sessions.get(clientId);
  const conn = session?.connection ?? null;
  if (session === undefined || conn === null) return 0;
  return (
    conn.out.length +
    conn.transport.writableLength +
    session.queue.bytes12 +
    session.inflightBytes +
    // QoS 0 deliveries queued (none expected online) would count by their payload too.
    (session.queue.length - session.queue.count12) * PAYLOAD_BYTES
  );
}

async function flood(qos: 0 | 1): Promise<void> {
  const t = await startTestBroker({
    config: { maxQueuedMessages: MAX_QUEUED, maxInflightMessages: MAX_INFLIGHT },
  });
  const sockets: net.Socket[] = [];
  try {
    const subscriber = await open(t.port);
    sockets.push(subscriber);
    subscriber.write(wire.connect({ clientId: 'stalled' }));
    subscriber.write(
      wire.subscribe({ packetId: 1, subscriptions: [{ filter: 'flood', options: qos }] }),
    );
    await waitUntil(
      () => t.broker.sessions.get('stalled')?.subscriptions.has('flood') === true,
      'the subscription',
    );
    // The subscriber stops reading: the kernel buffers fill, then the broker's.
    subscriber.pause();

    const publisher = await open(t.port);
    sockets.push(publisher);
    publisher.on('data', () => {}); // PUBACKs, read and forgotten
    publisher.write(wire.connect({ clientId: 'flooder' }));
    await waitUntil(() => t.broker.sessions.get('flooder')?.connection != null, 'the publisher');

    const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
    const frameBytes = wire.publish({ topic: 'flood', payload, qos, packetId: 1 }).length;
    gc();
    const memoryBefore = process.memoryUsage().arrayBuffers;
    let heldMax = 0;
    let memoryMax = 0;
    const sample = (): void => {
      heldMax = Math.max(heldMax, heldFor(t, 'stalled'));
      gc();
      memoryMax = Math.max(memoryMax, process.memoryUsage().arrayBuffers - memoryBefore);
    };
    const batch = 200;
    for (let sent = 0; sent < MESSAGES; sent += batch) {
      const frames: Buffer[] = [];
      for (let i = 0; i < batch; i++) {
        const packetId = ((sent + i) % 65535) + 1;
        frames.push(wire.publish({ topic: 'flood', payload, qos, packetId }));
      }
      publisher.write(Buffer.concat(frames));
      await waitUntil(
        () => t.broker.metrics.publishReceived >= sent + batch,
        `${String(sent + batch)} messages received`,
      );
      sample();
    }
    await settle(20);
    sample();

    assert.ok(t.broker.metrics.publishDropped > 0, 'the flood overflowed the limits');
    // Unsent output and the socket's buffer hold at most the queue limit of frames each,
    // QoS 1 adds the queue and the in-flight window: the bound does not grow with the flood.
    const bound = 3 * (MAX_QUEUED + MAX_INFLIGHT) * frameBytes;
    assert.ok(
      heldMax <= bound,
      `held ${String(heldMax)} bytes for the stalled client, over ${String(bound)}`,
    );
    // Every byte the process keeps outside the JS heap (the bound above plus received chunks
    // and buffer pools): far below the 32 MiB published.
    assert.ok(
      memoryMax <= bound + 8 * 1024 * 1024,
      `external memory grew by ${String(memoryMax)} bytes`,
    );

    // Once it reads again, the subscriber gets what was kept (QoS 1's queue then waits for
    // PUBACKs, which this subscriber never sends).
    let received = 0;
    subscriber.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    subscriber.resume();
    const conn = t.broker.sessions.get('stalled')?.connection;
    assert.ok(conn != null);
    await waitUntil(
      () => conn.out.length === 0 && conn.transport.writableLength === 0,
      'the backlog to drain',
    );
    await waitUntil(() => received > 0, 'deliveries to the subscriber');
  } finally {
    for (const socket of sockets) socket.destroy();
    await t.close();
  }
}

describe('a subscriber that stops reading', () => {
  test('QoS 0 flood: the broker holds at most its queue limits plus the socket buffers', async () => {
    await flood(0);
  });

  test('QoS 1 flood: the broker holds at most its queue limits plus the socket buffers', async () => {
    await flood(1);
  });
});
