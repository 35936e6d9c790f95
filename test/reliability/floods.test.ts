/**
 * Floods against an in-process broker, each with memory and a probe client's latency
 * asserted: a connection storm (1,000 connects a second), a subscribe storm (100,000
 * filters from one client, a deep and wide tree), and QoS 2 packet ids without PUBREL
 * (bounded by max_inflight_messages: beyond it PUBREC 0x97, as Mosquitto), and retained
 * messages set, replaced and cleared on 20,000 topics. Bounds are
 * generous for a shared 2-core CI machine; what they catch is unbounded growth or a
 * broker that stops answering others while it works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { silentLog } from '../../src/broker/broker-log.ts';
import type { Broker } from '../../src/broker/broker.ts';
import { defaultListener, defaultSecurity } from '../../src/broker/config/types.ts';
import { startBroker } from '../../src/broker/start-broker.ts';
import { waitFor } from '../helpers/broker.ts';
import { liveBytes, MB, PingProbe } from '../helpers/memory.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { connectionStorm } from '../helpers/storm.ts';

async function withBroker(body: (broker: Broker, port: number) => Promise<void>): Promise<void> {
  const broker = await startBroker({
    config: {
      sysInterval: 0,
      listeners: [{ ...defaultListener(0, defaultSecurity(true)), bindAddress: '127.0.0.1' }],
    },
    log: silentLog,
  });
  try {
    await body(broker, broker.ports[0] ?? 0);
  } finally {
    await broker.close();
  }
}

test('a connection storm of 1,000 connects a second: others keep answering, memory returns', async (t) => {
  await withBroker(async (broker, port) => {
    await connectionStorm(port, 500, 500); // warm-up
    await waitFor(() => broker.connections.size === 0, 5000);
    const probe = await PingProbe.open(port, 'probe');
    const quietPing = await probe.median(9);
    const baseline = await liveBytes();
    const during: number[] = [];
    const storm = connectionStorm(port, 1000, 3000);
    // Spread over the storm, not bunched at its start.
    while (during.length < 20) {
      during.push(await probe.roundTrip());
      await new Promise((resolve) => setTimeout(resolve, 120));
    }
    const result = await storm;
    probe.close();
    await waitFor(() => broker.connections.size === 0, 5000);
    const after = await liveBytes();
    during.sort((a, b) => a - b);
    const p90 = during[Math.floor(during.length * 0.9)] as number;
    t.diagnostic(
      `${result.connects} connects, ${result.failures} failures; ping ms quiet ${quietPing.toFixed(2)}, ` +
        `during p90 ${p90.toFixed(2)}; live MB ${(baseline / MB).toFixed(1)} -> ${(after / MB).toFixed(1)}`,
    );
    assert.ok(result.connects > 2000, `only ${result.connects} connects in 3 s`);
    assert.ok(p90 < 250, `probe round trips p90 ${p90.toFixed(1)} ms during the storm`);
    assert.ok(after - baseline < 4 * MB, 'live memory did not return after the storm');
    assert.equal(broker.sessions.size, 0);
  });
});

test('a subscribe storm of 100,000 filters is held and given back', async (t) => {
  await withBroker(async (broker, port) => {
    const probe = await PingProbe.open(port, 'probe');
    const baseline = await liveBytes();
    const client = await RawClient.open(port);
    client.send(wire.connect({ clientId: 'subscriber', keepAlive: 0 }));
    await client.expectPacket();
    const PACKETS = 1000;
    const PER_PACKET = 100;
    let slowest = 0;
    for (let p = 0; p < PACKETS; p++) {
      // Wide (1,000 first levels) and deep (up to 12 levels) at once.
      const subscriptions = Array.from({ length: PER_PACKET }, (_, i) => ({
        filter: `f/${p}/${Array.from({ length: i % 10 }, (_, d) => `d${d}`).join('/')}/${i}`,
        options: 1,
      }));
      client.send(wire.subscribe({ packetId: p + 1, subscriptions }));
      if (p % 100 === 99) slowest = Math.max(slowest, await probe.roundTrip());
    }
    for (let p = 0; p < PACKETS; p++) await client.expectPacket(10_000);
    const held = await liveBytes();
    client.send(wire.disconnect());
    client.end();
    await waitFor(() => broker.connections.size === 1, 5000);
    const after = await liveBytes();
    probe.close();
    t.diagnostic(
      `live MB ${(baseline / MB).toFixed(1)}, with 100,000 filters ${(held / MB).toFixed(1)}, ` +
        `after ${(after / MB).toFixed(1)}; slowest probe ${slowest.toFixed(1)} ms`,
    );
    assert.ok(held - baseline < 150 * MB, 'the filters took more than 1.5 KB each');
    assert.ok(after - baseline < 4 * MB, 'memory did not return when the clean session ended');
    assert.ok(slowest < 1000, `the probe waited ${slowest.toFixed(0)} ms`);
  });
});

test('QoS 2 packet ids without PUBREL stop at max_inflight_messages (0x97 beyond)', async () => {
  await withBroker(async (broker, port) => {
    const client = await RawClient.open(port);
    client.send(wire.connect({ clientId: 'flooder', version: 5, keepAlive: 0 }));
    await client.expectPacket();
    const baseline = await liveBytes();
    const payload = Buffer.alloc(1000, 1);
    const codes: number[] = [];
    for (let id = 1; id <= 5000; id++) {
      client.send(wire.publish({ topic: 'flood', payload, qos: 2, packetId: id, version: 5 }));
    }
    for (let id = 1; id <= 5000; id++) {
      const pubrec = await client.expectPacket(10_000);
      codes.push(pubrec.length > 4 ? (pubrec[4] ?? 0) : 0);
    }
    const after = await liveBytes();
    const accepted = codes.filter((c) => c === 0).length;
    const refused = codes.filter((c) => c === 0x97).length;
    assert.equal(accepted, 20, 'max_inflight_messages 20 accepted');
    assert.equal(refused, 4980, 'the rest refused with 0x97 Quota exceeded');
    assert.equal(broker.sessions.get('flooder')?.incoming.size, 20);
    assert.ok(after - baseline < 2 * MB, 'refused messages were kept');
    client.destroy();
  });
});

test('a retained-message flood: replacing keeps one copy per topic, clearing gives it all back', async (t) => {
  await withBroker(async (broker, port) => {
    const probe = await PingProbe.open(port, 'probe');
    const baseline = await liveBytes();
    const client = await RawClient.open(port);
    client.send(wire.connect({ clientId: 'retainer', keepAlive: 0 }));
    await client.expectPacket();
    const TOPICS = 20_000;
    const payload = Buffer.alloc(200, 0x72);
    const round = async (body: Buffer): Promise<number> => {
      let slowest = 0;
      for (let start = 0; start < TOPICS; start += 1000) {
        const frames: Buffer[] = [];
        for (let i = start; i < start + 1000; i++) {
          frames.push(
            wire.publish({ topic: `flood/${i % 100}/${i}`, payload: body, retain: true }),
          );
        }
        client.send(Buffer.concat(frames));
        slowest = Math.max(slowest, await probe.roundTrip());
      }
      return slowest;
    };
    const slowestFirst = await round(payload);
    await waitFor(() => broker.retained.size === TOPICS, 10_000);
    const held = await liveBytes();
    // Three more rounds on the same topics: each replaces, nothing accumulates.
    let slowest = slowestFirst;
    for (let r = 0; r < 3; r++)
      slowest = Math.max(slowest, await round(Buffer.alloc(200, 0x41 + r)));
    await probe.roundTrip();
    const replaced = await liveBytes();
    // Empty retained messages clear every topic.
    await round(Buffer.alloc(0));
    await waitFor(() => broker.retained.size === 0, 10_000);
    const cleared = await liveBytes();
    client.destroy();
    probe.close();
    t.diagnostic(
      `live MB: baseline ${(baseline / MB).toFixed(1)}, ${TOPICS} retained ${(held / MB).toFixed(1)}, ` +
        `after 3 replacements ${(replaced / MB).toFixed(1)}, cleared ${(cleared / MB).toFixed(1)}; ` +
        `slowest probe ${slowest.toFixed(1)} ms`,
    );
    assert.ok(
      held - baseline < 40 * MB,
      `20,000 retained messages hold ${(held - baseline) / MB} MB`,
    );
    assert.ok(replaced - held < 4 * MB, 'replacing retained messages accumulated memory');
    assert.ok(
      cleared - baseline < 4 * MB,
      'clearing the retained messages did not give memory back',
    );
    assert.ok(slowest < 500, `probe round trip ${slowest.toFixed(1)} ms during the flood`);
  });
});
