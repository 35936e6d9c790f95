/**
 * Client-id takeover storm: clients reconnecting in a tight loop on 5 shared client ids.
 *
 * What it was: after a 3 s storm bin/mosquitto's RSS stood 18-33 MB higher. Heap snapshots
 * taken before and after (node --heapsnapshot-signal) hold the same live objects (8.3 vs
 * 8.1 MB); the extra RSS is V8 old-space pages committed while the storm's short-lived
 * connections were promoted and collected. V8's memory reducer gives them back once the
 * broker has been quiet for ~8 s, and a longer or repeated storm does not raise the peak.
 * So: no leak, and these tests keep it that way:
 *  - in process: after storms the broker's own structures are empty and the live heap
 *    (forced collection) is back within a few MB of the baseline, storm after storm;
 *  - bin/mosquitto as a child: three storms in a row leave RSS within 10 MB of where the first left it;
 *    with STORM_SETTLE_SECONDS=15 (by hand) it must also come back to within 5 MB of the
 *    pre-storm level (the memory reducer's delay is too long and load-dependent for CI).
 * STORM_SECONDS=<n> makes the storms longer, by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { silentLog } from '../../src/broker/broker-log.ts';
import { defaultListener, defaultSecurity } from '../../src/broker/config/types.ts';
import { startBroker } from '../../src/broker/start-broker.ts';
import { waitFor } from '../helpers/broker.ts';
import { liveBytes, MB, rssOf } from '../helpers/memory.ts';
import { ourBroker } from '../helpers/process.ts';
import { takeoverStorm } from '../helpers/storm.ts';

const STORM_MS = Number(process.env.STORM_SECONDS ?? 2) * 1000;
const SETTLE_MS = Number(process.env.STORM_SETTLE_SECONDS ?? 0) * 1000;

test('takeover storms leave no sessions, connections or live heap behind (in process)', async (t) => {
  const broker = await startBroker({
    config: {
      sysInterval: 0,
      listeners: [{ ...defaultListener(0, defaultSecurity(true)), bindAddress: '127.0.0.1' }],
    },
    log: silentLog,
  });
  const port = broker.ports[0] ?? 0;
  try {
    // Warm-up: JIT code and V8's caches are not what we are looking for.
    await takeoverStorm({ port, durationMs: 500, prefix: 'warm' });
    await waitFor(() => broker.connections.size === 0, 5000);
    const baseline = await liveBytes();
    const after: number[] = [];
    for (const [round, version] of [
      [1, 4],
      [2, 5],
      [3, 4],
    ] as const) {
      // Round 3 resumes MQTT 3.1.1 sessions; round 2's MQTT 5 sessions (no expiry
      // interval) end with their connections like clean ones.
      const persistent = round === 3;
      const result = await takeoverStorm({
        port,
        durationMs: STORM_MS / 2,
        version,
        cleanStart: round === 1,
        prefix: `storm${round}`,
      });
      assert.ok(result.connects > 100, `round ${round}: only ${result.connects} connects`);
      await waitFor(() => broker.connections.size === 0, 5000);
      assert.equal(broker.sessions.size, persistent ? 5 : 0);
      after.push(await liveBytes());
      t.diagnostic(`round ${round} (v${version}): ${result.connects} connects`);
    }
    t.diagnostic(
      `live MB: baseline ${(baseline / MB).toFixed(1)}, after ` +
        after.map((b) => (b / MB).toFixed(1)).join(' '),
    );
    for (const [i, bytes] of after.entries()) {
      assert.ok(
        bytes - baseline < 3 * MB,
        `after storm ${i + 1} the live heap is ${((bytes - baseline) / MB).toFixed(1)} MB above the baseline`,
      );
    }
  } finally {
    await broker.close();
  }
});

test('repeated takeover storms do not grow bin/mosquitto', async (t) => {
  const broker = await ourBroker.start();
  const pid = (broker as unknown as { child: { pid: number } }).child.pid;
  try {
    await takeoverStorm({ port: broker.port, durationMs: 500, prefix: 'warm' });
    await delay(500);
    const baseline = rssOf(pid);
    const afterStorm: number[] = [];
    let connects = 0;
    for (let i = 0; i < 3; i++) {
      connects += (await takeoverStorm({ port: broker.port, durationMs: STORM_MS * 0.75 }))
        .connects;
      await delay(500);
      afterStorm.push(rssOf(pid));
    }
    // By hand (STORM_SETTLE_SECONDS=15): V8's memory reducer gives the storm's pages back
    // ~8-10 s after the broker goes idle (later on a loaded machine, hence not in CI).
    let settled = afterStorm.at(-1) as number;
    const deadline = Date.now() + SETTLE_MS;
    while (Date.now() < deadline && settled - baseline >= 5 * MB) {
      await delay(250);
      settled = rssOf(pid);
    }
    t.diagnostic(
      `${connects} connects; RSS MB before ${(baseline / MB).toFixed(1)}, after each storm ` +
        afterStorm.map((b) => (b / MB).toFixed(1)).join(' ') +
        (SETTLE_MS > 0 ? `, settled ${(settled / MB).toFixed(1)}` : ''),
    );
    const growth = (afterStorm[2] as number) - (afterStorm[0] as number);
    assert.ok(growth < 10 * MB, `RSS grew ${(growth / MB).toFixed(1)} MB from storm 1 to storm 3`);
    if (SETTLE_MS > 0) {
      assert.ok(
        settled - baseline < 5 * MB,
        `RSS stayed ${((settled - baseline) / MB).toFixed(1)} MB above the pre-storm level`,
      );
    }
  } finally {
    await broker.stop();
  }
});
