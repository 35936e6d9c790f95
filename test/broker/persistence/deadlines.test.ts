/**
 * Deadlines across a restart, on the injected clock: a disconnected session's expiry and
 * a queued message's expiry keep counting from the wall-clock time they were saved with,
 * whatever happened to the monotonic clock (a new process starts it again at zero).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../src/common/clock.ts';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import type { Broker } from '../../../src/broker/broker.ts';
import { startBroker } from '../../../src/broker/start-broker.ts';
import { trackTempDir } from '../../helpers/children.ts';
import { mqttConnect } from '../../helpers/broker.ts';

const WALL_START = 1_800_000_000;

/** Our broker in this process, on a ManualClock whose wall clock starts at `wall`. */
async function brokerAt(
  dir: string,
  wall: number,
): Promise<{ broker: Broker; clock: ManualClock }> {
  const clock = new ManualClock(0, wall);
  const broker = await startBroker({
    config: {
      persistence: true,
      persistenceLocation: dir,
      autosaveInterval: 0,
      sysInterval: 0,
    },
    clock,
    log: new MemoryLog(),
  });
  return { broker, clock };
}

function url(broker: Broker): string {
  return `mqtt://127.0.0.1:${broker.ports[0] ?? 0}`;
}

describe('deadlines across a restart (mosquitto.db, injected clock)', () => {
  test('a session expiry keeps counting from the time it was saved', async () => {
    const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-deadline-')));
    let { broker, clock } = await brokerAt(dir, WALL_START);
    const sub = await mqttConnect(url(broker), {
      clientId: 'expiring',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 100 },
    });
    await sub.client.subscribeAsync('d', { qos: 1 });
    await sub.end();
    clock.advance(10_000);
    await broker.close();

    // It disconnected at WALL_START: 100 s later it expires. Restarted at +70 s, 30 s are left.
    ({ broker, clock } = await brokerAt(dir, WALL_START + 70));
    assert.ok(broker.sessions.has('expiring'));
    clock.advance(29_000);
    assert.ok(broker.sessions.has('expiring'), 'expired too early');
    clock.advance(2_000);
    assert.ok(!broker.sessions.has('expiring'), 'not expired after its deadline');
    assert.equal(broker.metrics.clientsExpired, 1);
    await broker.close();
  });

  test('a queued message with an expiry interval keeps counting too', async () => {
    const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-deadline-')));
    let { broker } = await brokerAt(dir, WALL_START);
    const sub = await mqttConnect(url(broker), {
      clientId: 'reader',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
    });
    await sub.client.subscribeAsync('m', { qos: 1 });
    await sub.end();
    const pub = await mqttConnect(url(broker), { protocolVersion: 5 });
    await pub.client.publishAsync('m', 'short', {
      qos: 1,
      properties: { messageExpiryInterval: 30 },
    });
    await pub.client.publishAsync('m', 'long', {
      qos: 1,
      properties: { messageExpiryInterval: 300 },
    });
    await pub.end();
    await broker.close();

    // 100 s later: the first message expired while the broker was down.
    ({ broker } = await brokerAt(dir, WALL_START + 100));
    const back = await mqttConnect(url(broker), {
      clientId: 'reader',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
    });
    const [message] = await back.waitForMessages(1, 3000);
    assert.ok(message !== undefined);
    assert.equal(message.payload, 'long');
    // Its remaining expiry interval went on counting: about 200 of its 300 s are left.
    const remaining = message.packet.properties?.messageExpiryInterval ?? 0;
    assert.ok(remaining > 190 && remaining <= 200, `remaining ${remaining}`);
    await back.end();
    await broker.close();
  });
});
