/**
 * Findings of the Eclipse Paho interoperability suite (paho.mqtt.testing, client_test.py and
 * client_test5.py) where Mosquitto passed and we failed. These tests run on the real clock:
 * the bug was in the system clock's timers, which the ManualClock of the other broker tests
 * replaces.
 *
 * test_publication_expiry: a subscriber set Session Expiry Interval 999,999,999 s in its
 * DISCONNECT and came back 3 s later to find no session and no messages. Node's setTimeout
 * fires after 1 ms for any delay over 2^31 - 1 ms (24.8 days), so every session expiry and
 * will delay above 2,147,483 s ran out at once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMEOUT_MS, systemClock } from '../../src/common/clock.ts';
import { toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { settle, startTestBroker } from '../helpers/broker.ts';

/** Session Expiry Interval (0x11) and Will Delay Interval (0x18) properties. */
const sessionExpiry = (seconds: number) => ({ id: 0x11, value: seconds });
const willDelay = (seconds: number) => ({ id: 0x18, value: seconds });

/** The first whole second past setTimeout's limit. */
const JUST_OVER_LIMIT_S = Math.ceil(MAX_TIMEOUT_MS / 1000);

describe('waits longer than 24.8 days (paho test_publication_expiry)', () => {
  for (const [route, connectExpiry, disconnectExpiry] of [
    ['raised to 999999999 s by DISCONNECT', 99_999, 999_999_999],
    [`${String(JUST_OVER_LIMIT_S)} s from CONNECT`, JUST_OVER_LIMIT_S, undefined],
  ] as const) {
    test(`a session expiry ${route} keeps the session and its queued messages`, async () => {
      const t = await startTestBroker();
      try {
        const first = await t.rawConnect({
          version: 5,
          clientId: 'sub',
          properties: [sessionExpiry(connectExpiry)],
        });
        first.client.send(
          wire.subscribe({ version: 5, subscriptions: [{ filter: 't', options: 2 }] }),
        );
        assert.equal(toHex(await first.client.expectPacket()), '90 04 00 01 00 02');
        first.client.send(
          disconnectExpiry === undefined
            ? wire.disconnect()
            : wire.disconnect(0, [sessionExpiry(disconnectExpiry)]),
        );
        await first.client.expectClosed();
        const { client: p } = await t.rawConnect({ clientId: 'pub' });
        p.send(wire.publish({ topic: 't', payload: 'kept', qos: 1, packetId: 1 }));
        assert.equal(toHex(await p.expectPacket()), '40 02 00 01');
        // The overflowed timer fired after 1 ms; give it ample time.
        await settle(100);
        assert.equal(t.broker.metrics.clientsExpired, 0);
        const again = await t.rawConnect({ version: 5, clientId: 'sub', cleanStart: false });
        assert.equal(toHex(again.connack), '20 09 01 00 06 22 00 0a 21 00 14');
        assert.equal(
          toHex(await again.client.expectPacket()),
          toHex(wire.publish({ version: 5, topic: 't', payload: 'kept', qos: 1, packetId: 1 })),
        );
      } finally {
        await t.close();
      }
    });
  }

  test('a will delayed for over 24.8 days is not published when the connection drops', async () => {
    const t = await startTestBroker();
    try {
      const { client: w } = await t.rawConnect({ clientId: 'watcher' });
      w.send(wire.subscribe({ subscriptions: ['will/#'] }));
      assert.equal(toHex(await w.expectPacket()), '90 03 00 01 00');
      const { client } = await t.rawConnect({
        version: 5,
        clientId: 'w',
        properties: [sessionExpiry(JUST_OVER_LIMIT_S)],
        will: { topic: 'will/t', payload: 'gone', properties: [willDelay(JUST_OVER_LIMIT_S)] },
      });
      client.destroy();
      assert.equal((await w.next(200)).kind, 'timeout');
      assert.equal(t.broker.delayedWills.size, 1);
    } finally {
      await t.close();
    }
  });

  test('systemClock: a timer past the limit waits, and cancel() stops it', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => {
      warnings.push(warning.name);
    };
    process.on('warning', onWarning);
    try {
      let fired = false;
      const handle = systemClock.setTimer(() => {
        fired = true;
      }, MAX_TIMEOUT_MS + 1);
      await settle(50);
      systemClock.cancel(handle);
      assert.equal(fired, false);
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
