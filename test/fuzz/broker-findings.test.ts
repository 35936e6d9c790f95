/**
 * Hostile inputs against the broker, pinned as plain tests:
 *  - hand-picked attacks (huge announced lengths, 10,000 filters, deep topics, 100,000
 *    user properties, topic alias abuse, acknowledgement floods, QoS 2 never released,
 *    sockets that never finish a CONNECT): each must get a protocol-correct answer or
 *    close, leave bounded state, and leave the broker serving; where Debian's Mosquitto
 *    2.0.11 should behave the same, the same conversation runs against it too and the
 *    packets must be identical;
 *  - what the broker fuzzer (broker.fuzz.test.ts) found, minimized, with the fix.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { deadlineHeapFor } from '../../src/broker/keepalive.ts';
import { mqttConnect, settle, startTestBroker, waitFor } from '../helpers/broker.ts';
import type { TestBroker, TestBrokerOptions } from '../helpers/broker.ts';
import { mosquittoSkip, startRealBroker } from '../helpers/mosquitto.ts';
import type { RunningBroker } from '../helpers/process.ts';
import { RawClient } from '../helpers/raw-client.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { frame, hex, toHex, u16, varint } from '../helpers/packet-bytes.ts';
import { loadGc } from './broker-oracle.ts';

// ---------------------------------------------------------------------------------
// Helpers

interface Transcript {
  /** Every packet received, in hex. */
  readonly packets: string[];
  /** The broker closed the connection. */
  readonly closed: boolean;
}

/**
 * Sends `writes` (one write each), then, with `probe`, a PINGREQ, and collects packets
 * until its PINGRESP or the end of the connection. Without `probe` it waits for the
 * broker to close (a conversation that ends the connection must not send more: bytes
 * the broker never reads make its close a reset, which can drop its last packets before
 * they are read). The conversation must not contain PINGREQs.
 */
async function talk(
  port: number,
  writes: readonly Buffer[],
  probe = true,
  timeoutMs = 10_000,
): Promise<Transcript> {
  const client = await RawClient.open(port);
  try {
    for (const bytes of writes) client.send(bytes);
    if (probe) client.send(wire.pingreq());
    const packets: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await client.next(Math.max(1, deadline - Date.now()));
      if (event.kind === 'timeout') {
        if (!probe) return { packets, closed: false };
        throw new Error(`no PINGRESP and no close: ${packets.slice(-3).join(' | ')}`);
      }
      if (event.kind === 'closed') return { packets, closed: true };
      const text = toHex(event.bytes);
      if (probe && text === 'd0 00') return { packets, closed: false };
      packets.push(text);
    }
  } finally {
    client.destroy();
  }
}

/** Both brokers: ours in-process, Debian's as a process (null when not installed). */
interface Pair {
  readonly ours: TestBroker;
  readonly theirs: RunningBroker;
  close(): Promise<void>;
}

async function startPair(
  ours: TestBrokerOptions = {},
  theirs: readonly string[] = [],
): Promise<Pair> {
  const a = await startTestBroker(ours);
  let b: RunningBroker;
  try {
    b = await startRealBroker({ config: theirs });
  } catch (error) {
    await a.close();
    throw error;
  }
  return {
    ours: a,
    theirs: b,
    async close() {
      await a.close();
      await b.stop();
    },
  };
}

/** The same conversation with both brokers; returns ours after checking they agree. */
async function sameAnswers(
  pair: Pair,
  writes: readonly Buffer[],
  probe = true,
): Promise<Transcript> {
  const ours = await talk(pair.ours.port, writes, probe);
  const theirs = await talk(pair.theirs.port, writes, probe);
  assert.deepEqual(ours, theirs, 'our broker and Mosquitto 2.0.11 answer differently');
  return ours;
}

/** A round trip through a fresh, well-behaved client: the broker still serves. */
async function stillServes(url: string): Promise<void> {
  const client = await mqttConnect(url, { protocolVersion: 5, clientId: 'well-behaved' });
  try {
    await client.client.subscribeAsync('ok/topic', { qos: 1 });
    await client.client.publishAsync('ok/topic', 'fine', { qos: 1 });
    const [message] = await client.waitForMessages(1);
    assert.equal(message?.payload, 'fine');
  } finally {
    await client.end();
  }
}

const gc = loadGc();

function heapAfterGc(): number {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

const CONNACK_V5 = '20 09 00 00 06 22 00 0a 21 00 14';
const CONNACK_V4 = '20 02 00 00';

// ---------------------------------------------------------------------------------
// Hand-picked hostile inputs

describe('hand-picked hostile inputs', () => {
  test('a CONNECT announcing 268,435,455 bytes is refused at once, without reading it', async () => {
    // Mosquitto 2.0.12+ closes a CONNECT declaring over 100,000 bytes before reading it
    // (2.0.11 still buffered it: features §3.17, so no comparison here).
    const b = await startTestBroker();
    try {
      const client = await RawClient.open(b.port);
      client.send(hex('10 ff ff ff 7f 00 04 4d 51'));
      await client.expectClosed(1000);
      assert.ok(
        b.log.messages().includes('Client <unknown> disconnected due to malformed packet.'),
      );
      await stillServes(b.url);
    } finally {
      await b.close();
    }
  });

  test('a PUBLISH announcing 268,435,455 bytes holds only what arrived, and goes on a FIN', async () => {
    const b = await startTestBroker();
    try {
      const client = await RawClient.open(b.port);
      client.send(wire.connect({ clientId: 'big-announce' }));
      assert.equal(toHex(await client.expectPacket()), CONNACK_V4);
      client.send(hex('30 ff ff ff 7f 00 03 61 2f 62'));
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      for (let i = 0; i < 16; i++) client.send(chunk);
      const [conn] = b.broker.connections;
      assert.ok(conn !== undefined);
      await waitFor(() => conn.decoder.bufferedBytes >= 16 * chunk.length);
      // Buffered as received (1 MiB), never sized by the announced length.
      assert.ok(conn.decoder.bufferedBytes < 2 * 1024 * 1024);
      client.end();
      await client.expectClosed(2000);
      await waitFor(() => b.broker.connections.size === 0);
      await stillServes(b.url);
    } finally {
      await b.close();
    }
  });

  test('sockets that never finish their CONNECT are dropped at the CONNECT deadline', async () => {
    const b = await startTestBroker({ manualClock: true });
    try {
      const clients = await Promise.all(Array.from({ length: 200 }, () => RawClient.open(b.port)));
      clients.forEach((client, i) => {
        // Nothing, one byte, or a CONNECT cut short.
        if (i % 3 === 1) client.send(hex('10'));
        if (i % 3 === 2) client.send(wire.connect({ clientId: `slow-${i}` }).subarray(0, 12));
      });
      await waitFor(() => b.broker.connections.size === 200);
      await settle();
      b.clock.advance(89_000);
      await settle();
      assert.equal(b.broker.connections.size, 200, 'dropped before the deadline');
      b.clock.advance(1000);
      for (const client of clients) await client.expectClosed(2000);
      await waitFor(() => b.broker.connections.size === 0);
      assert.equal(deadlineHeapFor(b.clock).size, 0);
      const closes = b.log
        .messages()
        .filter((l) => l === 'Client <unknown> disconnected due to protocol error.');
      assert.equal(closes.length, 200);
    } finally {
      await b.close();
    }
  });

  test('10,000 topic filters in one SUBSCRIBE', mosquittoSkip(), async () => {
    const pair = await startPair();
    try {
      const subscriptions = Array.from({ length: 10_000 }, (_, i) => ({
        filter: `f/${i}/+`,
        options: i % 3,
      }));
      const writes = [
        wire.connect({ clientId: 'many-filters' }),
        wire.subscribe({ packetId: 7, subscriptions }),
      ];
      const { packets, closed } = await sameAnswers(pair, writes);
      assert.equal(closed, false);
      const suback = Buffer.from((packets[1] ?? '').replace(/ /g, ''), 'hex');
      assert.equal(suback.length, 1 + 2 + 2 + 10_000);
      assert.deepEqual([...suback.subarray(5, 11)], [0, 1, 2, 0, 1, 2]);
      // Our broker forgot them with the connection (clean session).
      await waitFor(() => pair.ours.broker.subscriptions.subscriptionCount === 0);
    } finally {
      await pair.close();
    }
  });

  test(
    'deep topics: 201 levels work, 202 and 32,768 levels are refused',
    mosquittoSkip(),
    async () => {
      const pair = await startPair();
      try {
        const levels = (n: number): string =>
          Array.from({ length: n }, (_, i) => String(i % 10)).join('/');
        for (const version of [4, 5] as const) {
          const hello = wire.connect({ version, clientId: `deep-${version}` });
          const connack = version === 5 ? CONNACK_V5 : CONNACK_V4;
          const ok = await sameAnswers(pair, [
            hello,
            wire.subscribe({ version, packetId: 1, subscriptions: [levels(201)] }),
            wire.publish({ version, topic: levels(201), qos: 1, packetId: 2, payload: 'x' }),
          ]);
          assert.equal(ok.closed, false);
          assert.equal(ok.packets.length, 4, ok.packets.join(' | ')); // CONNACK SUBACK PUBLISH PUBACK
          for (const topic of [levels(202), 'a/'.repeat(32_767) + 'a', '/'.repeat(65_535)]) {
            const subscribe = [
              hello,
              wire.subscribe({ version, packetId: 4, subscriptions: [topic] }),
            ];
            const publish = [hello, wire.publish({ version, topic, qos: 1, packetId: 3 })];
            const refusal = version === 5 ? [connack, 'e0 01 81'] : [connack];
            assert.deepEqual(await sameAnswers(pair, subscribe, false), {
              packets: refusal,
              closed: true,
            });
            if (version === 5) {
              // An MQTT 5 PUBLISH to a too deep topic is malformed (0x81) from 2.0.12 on
              // (handle_publish.c); 2.0.11 says protocol error (0x82): only ours is pinned.
              assert.deepEqual(await talk(pair.ours.port, publish, false), {
                packets: refusal,
                closed: true,
              });
            } else {
              assert.deepEqual(await sameAnswers(pair, publish, false), {
                packets: refusal,
                closed: true,
              });
            }
          }
        }
        await stillServes(pair.ours.url);
      } finally {
        await pair.close();
      }
    },
  );

  test(
    '100,000 user properties in one PUBLISH are forwarded whole, in time',
    mosquittoSkip(),
    async () => {
      const pair = await startPair();
      try {
        const props = Array.from({ length: 100_000 }, (_, i): wire.WireProperty => ({
          id: 0x26,
          value: [i % 2 === 0 ? 'k' : '', String(i % 7)],
        }));
        const publish = wire.publish({
          version: 5,
          topic: 'up/a',
          qos: 1,
          packetId: 9,
          properties: props,
          payload: 'p',
        });
        for (const port of [pair.ours.port, pair.theirs.port]) {
          const subscriber = await RawClient.open(port);
          subscriber.send(wire.connect({ version: 5, clientId: 'up-sub' }));
          await subscriber.expectPacket();
          subscriber.send(wire.subscribe({ version: 5, packetId: 1, subscriptions: ['up/#'] }));
          await subscriber.expectPacket();
          const started = Date.now();
          const { packets, closed } = await talk(port, [
            wire.connect({ version: 5, clientId: 'up-pub' }),
            publish,
          ]);
          assert.equal(closed, false);
          assert.equal(packets[1], '40 02 00 09');
          const forwarded = await subscriber.expectPacket(5000);
          assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
          // QoS 0 subscription: the same PUBLISH without its packet identifier.
          const expected = wire.publish({
            version: 5,
            topic: 'up/a',
            properties: props,
            payload: 'p',
          });
          assert.ok(
            forwarded.equals(expected),
            `forwarded ${forwarded.length} bytes, expected ${expected.length}`,
          );
          subscriber.destroy();
        }
      } finally {
        await pair.close();
      }
    },
  );

  test(
    'user properties over max_packet_size: DISCONNECT 0x95 before the body is read',
    mosquittoSkip(),
    async () => {
      const pair = await startPair({ config: { maxPacketSize: 100_000 } }, [
        'max_packet_size 100000',
      ]);
      try {
        const props = Array.from({ length: 25_000 }, (): wire.WireProperty => ({
          id: 0x26,
          value: ['', ''],
        }));
        const oversize = wire.publish({ version: 5, topic: 'tb', properties: props });
        // The fixed header alone (0x30 and a 3-byte remaining length) is refused.
        assert.equal(oversize.length > 100_000 && oversize[3]! < 0x80, true);
        const { packets, closed } = await sameAnswers(
          pair,
          [wire.connect({ version: 5, clientId: 'too-big' }), oversize.subarray(0, 4)],
          false,
        );
        assert.equal(closed, true);
        assert.deepEqual(packets.slice(1), ['e0 01 95']);
      } finally {
        await pair.close();
      }
    },
  );

  test('topic alias 0, above the maximum, or unknown', mosquittoSkip(), async () => {
    const pair = await startPair();
    try {
      const hello = wire.connect({ version: 5, clientId: 'alias' });
      const aliased = (topic: string, alias: number): Buffer =>
        wire.publish({ version: 5, topic, payload: 'x', properties: [{ id: 0x23, value: alias }] });
      const cases: [Buffer[], string[]][] = [
        [[aliased('t', 0)], ['e0 01 82']],
        [[aliased('t', 11)], ['e0 01 94']],
        [[aliased('t', 0xffff)], ['e0 01 94']],
        [[aliased('', 3)], ['e0 01 82']],
        [[aliased('t', 10), aliased('', 10)], []],
      ];
      for (const [packets, expected] of cases) {
        const result = await talk(pair.ours.port, [hello, ...packets], expected.length === 0);
        assert.deepEqual(
          result.packets.slice(1),
          expected,
          packets.map((p) => toHex(p)).join(' | '),
        );
        assert.equal(result.closed, expected.length > 0);
      }
      // Mosquitto 2.0.22 refuses alias 0 with a protocol error as above (property check);
      // 2.0.11 called it malformed. The other answers are the same in both.
      for (const [packets, expected] of cases.slice(1)) {
        await sameAnswers(pair, [hello, ...packets], expected.length === 0);
      }
    } finally {
      await pair.close();
    }
  });

  test(
    'a flood of PUBRELs for unknown ids gets one PUBCOMP each and keeps nothing',
    mosquittoSkip(),
    async () => {
      const pair = await startPair();
      try {
        for (const version of [4, 5] as const) {
          const pubrels = Buffer.concat(
            Array.from({ length: 10_000 }, (_, i) => wire.pubrel(1 + (i % 0xffff))),
          );
          const { packets, closed } = await sameAnswers(pair, [
            wire.connect({ version, clientId: 'pubrel' }),
            pubrels,
          ]);
          assert.equal(closed, false);
          assert.equal(packets.length, 10_001);
          assert.equal(packets[10_000], '70 02 27 10');
        }
        assert.equal(
          [...pair.ours.broker.sessions.values()].reduce((n, s) => n + s.incoming.size, 0),
          0,
        );
      } finally {
        await pair.close();
      }
    },
  );

  test(
    'QoS 2 PUBLISHes never released: at most max_inflight_messages are held',
    mosquittoSkip(),
    async () => {
      const pair = await startPair();
      try {
        const publishes = (version: 4 | 5): Buffer =>
          Buffer.concat(
            Array.from({ length: 5000 }, (_, i) =>
              wire.publish({
                version,
                topic: `q2/${i % 9}`,
                qos: 2,
                packetId: i + 1,
                payload: Buffer.alloc(200),
              }),
            ),
          );
        // 3.1.1 has no way to say no: every PUBLISH gets its PUBREC, as from Mosquitto.
        const v4 = await sameAnswers(pair, [wire.connect({ clientId: 'q2-v4' }), publishes(4)]);
        assert.equal(v4.packets.length, 5001);
        assert.ok(v4.packets.slice(1).every((p) => p.startsWith('50 02 ')));

        // MQTT 5: the first 20 are held (PUBREC 0x00), the rest refused with 0x97 (Quota
        // exceeded). Mosquitto 2.0.11 holds 60 before refusing, so only ours is pinned.
        const client = await RawClient.open(pair.ours.port);
        client.send(wire.connect({ version: 5, clientId: 'q2-v5' }));
        await client.expectPacket();
        client.send(publishes(5));
        const answers: string[] = [];
        for (let i = 0; i < 5000; i++) answers.push(toHex(await client.expectPacket()));
        const refused = answers.filter((a) => a.endsWith(' 97'));
        assert.equal(answers.length - refused.length, 20);
        assert.equal(refused.length, 4980);
        const session = pair.ours.broker.sessions.get('q2-v5');
        assert.equal(session?.incoming.size, 20);
        // Releasing one makes room for one.
        client.send(wire.pubrel(1));
        assert.equal(toHex(await client.expectPacket()), '70 02 00 01');
        client.send(wire.publish({ version: 5, topic: 'q2/x', qos: 2, packetId: 6000 }));
        assert.equal(toHex(await client.expectPacket()), '50 02 17 70');
        client.destroy();
      } finally {
        await pair.close();
      }
    },
  );

  test('hostile connections leave no memory behind', async () => {
    const b = await startTestBroker();
    try {
      const attack = async (): Promise<void> => {
        const clients = await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const client = await RawClient.open(b.port);
            client.send(wire.connect({ version: 5, clientId: `mem-${i}` }));
            // An alias table, a held QoS 2 message, a subscription, then half a packet.
            client.send(
              wire.publish({
                version: 5,
                topic: 'm/' + 'x'.repeat(1000),
                properties: [{ id: 0x23, value: 1 }],
              }),
            );
            client.send(
              wire.publish({
                version: 5,
                topic: 'm/q',
                qos: 2,
                packetId: 1,
                payload: Buffer.alloc(10_000),
              }),
            );
            client.send(wire.subscribe({ version: 5, packetId: 2, subscriptions: ['m/#'] }));
            client.send(hex('30 ff ff 03').subarray(0, 3));
            return client;
          }),
        );
        await waitFor(() => b.broker.sessions.size === 100, 5000);
        for (const client of clients) client.destroy();
        await waitFor(() => b.broker.connections.size === 0, 5000);
      };
      await attack();
      // The test log keeps every (debug) line: not the broker's memory.
      b.log.lines.length = 0;
      const before = heapAfterGc();
      for (let round = 0; round < 5; round++) await attack();
      b.log.lines.length = 0;
      const growth = heapAfterGc() - before;
      assert.equal(b.broker.sessions.size, 0);
      assert.equal(b.broker.subscriptions.subscriptionCount, 0);
      if (gc !== null) assert.ok(growth < 8 * 1024 * 1024, `grew by ${growth} bytes`);
      await stillServes(b.url);
    } finally {
      await b.close();
    }
  });
});

// ---------------------------------------------------------------------------------
// Fuzzer findings

describe('broker fuzzer findings', () => {
  test(
    'a CONNACK above the client’s Maximum Packet Size is not sent (fuzz seed 1, case 1114)',
    mosquittoSkip(),
    async () => {
      // v5 CONNECT, empty client id, Maximum Packet Size 24: the CONNACK carrying the
      // assigned id is 55 bytes. We sent it anyway; Mosquitto closes without a CONNACK and
      // logs an oversize packet, and so do we now [MQTT-3.1.2-24].
      const pair = await startPair();
      try {
        const connect = hex('10 12 00 04 4d 51 54 54 05 02 00 3c 05 27 00 00 00 18 00 00');
        const client = await RawClient.open(pair.ours.port);
        client.send(connect);
        await client.expectClosed(2000);
        const closes = pair.ours.log
          .messages()
          .filter((l) => l.endsWith(' disconnected due to oversize packet.'));
        assert.equal(closes.length, 1);
        assert.match(
          closes[0] ?? '',
          /^Client auto-[0-9A-F-]{36} disconnected due to oversize packet\.$/,
        );
        await waitFor(
          () => pair.ours.broker.sessions.size === 0 && pair.ours.broker.connections.size === 0,
        );

        const theirs = await RawClient.open(pair.theirs.port);
        theirs.send(connect);
        await theirs.expectClosed(2000);

        // A CONNACK that fits is still sent.
        const fits = await RawClient.open(pair.ours.port);
        fits.send(
          wire.connect({ version: 5, clientId: 'fits', properties: [{ id: 0x27, value: 24 }] }),
        );
        assert.equal(toHex(await fits.expectPacket()), CONNACK_V5);
        fits.destroy();
      } finally {
        await pair.close();
      }
    },
  );

  test('a connection reset before it is accepted is dropped without a log line (fuzz seed 1)', async () => {
    // Fuzz conversations ending in RST made the broker log "New connection from :0 on
    // port N." and a close line for a peer it could not name. Mosquitto's context__init()
    // fails on getpeername() and drops the socket silently; so do we now. To reset the
    // connections before the broker accepts them, the event loop is held by spawnSync
    // while a child process connects and resets.
    const b = await startTestBroker();
    try {
      const script = `
        const net = require('node:net');
        let left = 20;
        for (let i = 0; i < 20; i++) {
          const s = net.connect(${b.port}, '127.0.0.1', () => {
            s.resetAndDestroy();
            if (--left === 0) setTimeout(() => process.exit(0), 50);
          });
          s.on('error', () => {});
        }`;
      const child = spawnSync(process.execPath, ['-e', script], { timeout: 10_000 });
      assert.equal(child.status, 0, String(child.stderr));
      await waitFor(() => b.broker.metrics.socketConnections >= 20);
      await settle(50);
      const lines = b.log.messages();
      assert.deepEqual(
        lines.filter((l) => l.includes(':0 on port') || l.includes('<unknown>')),
        [],
      );
      assert.equal(b.broker.connections.size, 0);
      await stillServes(b.url);
    } finally {
      await b.close();
    }
  });

  test(
    'MQTT 5 PUBACK / PUBREC 0x95 for a PUBLISH over message_size_limit, as Mosquitto',
    mosquittoSkip(),
    async () => {
      // Seen by the fuzzer's oracle: 0x95 is not a PUBACK reason code in the spec, and our
      // own client-side decoder refuses it, but it is what Mosquitto answers
      // (handle_publish.c), so the oracle accepts it and this pins it.
      const pair = await startPair({ config: { messageSizeLimit: 10 } }, ['message_size_limit 10']);
      try {
        const { packets, closed } = await sameAnswers(pair, [
          wire.connect({ version: 5, clientId: 'msl' }),
          wire.publish({ version: 5, topic: 'm', qos: 1, packetId: 1, payload: Buffer.alloc(11) }),
          wire.publish({ version: 5, topic: 'm', qos: 2, packetId: 2, payload: Buffer.alloc(11) }),
        ]);
        assert.equal(closed, false);
        assert.deepEqual(packets.slice(1), ['40 03 00 01 95', '50 03 00 02 95']);
      } finally {
        await pair.close();
      }
    },
  );

  test(
    'MQTT 3.1: a SUBSCRIBE without filters gets an empty SUBACK, as Mosquitto (fuzz seed 20240601, case 298)',
    mosquittoSkip(),
    async () => {
      // Mosquitto checks for an empty SUBSCRIBE from 3.1.1 on only (handle_subscribe.c).
      const pair = await startPair();
      try {
        const { packets, closed } = await sameAnswers(pair, [
          wire.connect({ version: 3, clientId: 'empty-sub' }),
          frame(0x82, u16(1)),
        ]);
        assert.equal(closed, false);
        assert.deepEqual(packets, [CONNACK_V4, '90 02 00 01']);
        for (const version of [4, 5] as const) {
          const refused = await sameAnswers(
            pair,
            [
              wire.connect({ version, clientId: 'empty-sub' }),
              frame(0x82, u16(1), version === 5 ? varint(0) : Buffer.alloc(0)),
            ],
            false,
          );
          assert.equal(refused.closed, true);
          assert.deepEqual(refused.packets.slice(1), version === 5 ? ['e0 01 81'] : []);
        }
      } finally {
        await pair.close();
      }
    },
  );
});
