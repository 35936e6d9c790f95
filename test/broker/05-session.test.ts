/**
 * Sessions (Mosquitto's 05-session-* tests): clean session / clean start, durable
 * sessions with subscriptions and queued messages, session present, resending with DUP,
 * session expiry (ManualClock), persistent_client_expiration.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { settle, startTestBroker } from '../helpers/broker.ts';

describe('durable sessions', () => {
  test('3.1.1 clean session 0: subscriptions and QoS 1 messages wait; session present 1', async () => {
    const t = await startTestBroker();
    try {
      const first = await t.rawConnect({ clientId: 'd', cleanStart: false });
      assert.equal(toHex(first.connack), '20 02 00 00');
      first.client.send(
        wire.subscribe({ packetId: 1, subscriptions: [{ filter: 't', options: 1 }] }),
      );
      await first.client.expectPacket();
      first.client.destroy();
      await settle();
      const { client: p } = await t.rawConnect({ clientId: 'p' });
      p.send(wire.publish({ topic: 't', payload: 'while away', qos: 1, packetId: 1 }));
      assert.equal(toHex(await p.expectPacket()), '40 02 00 01');
      const again = await t.rawConnect({ clientId: 'd', cleanStart: false });
      assert.equal(toHex(again.connack), '20 02 01 00');
      assert.equal(
        toHex(await again.client.expectPacket()),
        toHex(wire.publish({ topic: 't', payload: 'while away', qos: 1, packetId: 1 })),
      );
    } finally {
      await t.close();
    }
  });

  test('unacknowledged messages are resent with DUP and the same id after reconnect only', async () => {
    const t = await startTestBroker();
    try {
      const first = await t.rawConnect({ clientId: 'd', cleanStart: false });
      first.client.send(
        wire.subscribe({ packetId: 1, subscriptions: [{ filter: 't', options: 2 }] }),
      );
      await first.client.expectPacket();
      const { client: p } = await t.rawConnect({ clientId: 'p' });
      p.send(wire.publish({ topic: 't', payload: 'q1', qos: 1, packetId: 1 }));
      p.send(wire.publish({ topic: 't', payload: 'q2', qos: 2, packetId: 2 }));
      await p.expectPacket();
      await p.expectPacket();
      p.send(wire.pubrel(2));
      await p.expectPacket();
      assert.equal(
        toHex(await first.client.expectPacket()),
        toHex(wire.publish({ topic: 't', payload: 'q1', qos: 1, packetId: 1 })),
      );
      assert.equal(
        toHex(await first.client.expectPacket()),
        toHex(wire.publish({ topic: 't', payload: 'q2', qos: 2, packetId: 2 })),
      );
      // No in-session retry.
      assert.equal((await first.client.next(100)).kind, 'timeout');
      first.client.destroy();
      await settle();
      const again = await t.rawConnect({ clientId: 'd', cleanStart: false });
      assert.equal(toHex(again.connack), '20 02 01 00');
      assert.equal(
        toHex(await again.client.expectPacket()),
        toHex(wire.publish({ topic: 't', payload: 'q1', qos: 1, packetId: 1, dup: true })),
      );
      assert.equal(
        toHex(await again.client.expectPacket()),
        toHex(wire.publish({ topic: 't', payload: 'q2', qos: 2, packetId: 2, dup: true })),
      );
      // A PUBREC, then the connection drops: the PUBREL is what gets resent.
      again.client.send(wire.puback(1));
      again.client.send(wire.pubrec(2));
      assert.equal(toHex(await again.client.expectPacket()), '62 02 00 02');
      again.client.destroy();
      await settle();
      const third = await t.rawConnect({ clientId: 'd', cleanStart: false });
      assert.equal(toHex(await third.client.expectPacket()), '62 02 00 02');
      third.client.send(wire.pubcomp(2));
      assert.equal((await third.client.next(50)).kind, 'timeout');
    } finally {
      await t.close();
    }
  });

  test('clean session 1 discards the old session', async () => {
    const t = await startTestBroker();
    try {
      const first = await t.rawConnect({ clientId: 'd', cleanStart: false });
      first.client.send(wire.subscribe({ packetId: 1, subscriptions: ['t'] }));
      await first.client.expectPacket();
      first.client.send(wire.disconnect());
      await first.client.expectClosed();
      const clean = await t.rawConnect({ clientId: 'd', cleanStart: true });
      assert.equal(toHex(clean.connack), '20 02 00 00');
      clean.client.send(wire.disconnect());
      await clean.client.expectClosed();
      await settle();
      assert.equal(t.broker.subscriptions.subscriptionCount, 0);
      const again = await t.rawConnect({ clientId: 'd', cleanStart: false });
      assert.equal(toHex(again.connack), '20 02 00 00');
    } finally {
      await t.close();
    }
  });
});

describe('session expiry', () => {
  test('v5 Session Expiry Interval: kept until it runs out, then expired with a log line', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const expiry = [{ id: 0x11, value: 10 }];
      const first = await t.rawConnect({
        version: 5,
        clientId: 'e',
        cleanStart: false,
        properties: expiry,
      });
      first.client.send(wire.disconnect());
      await first.client.expectClosed();
      await settle();
      t.clock.advance(9_999);
      const back = await t.rawConnect({
        version: 5,
        clientId: 'e',
        cleanStart: false,
        properties: expiry,
      });
      assert.equal(toHex(back.connack), '20 09 01 00 06 22 00 0a 21 00 14');
      back.client.send(wire.disconnect());
      await back.client.expectClosed();
      await settle();
      t.clock.advance(10_000);
      assert.ok(t.log.messages().includes('Expiring client e due to timeout.'));
      assert.equal(t.broker.metrics.clientsExpired, 1);
      const gone = await t.rawConnect({ version: 5, clientId: 'e', cleanStart: false });
      assert.equal(toHex(gone.connack), '20 09 00 00 06 22 00 0a 21 00 14');
    } finally {
      await t.close();
    }
  });

  test('DISCONNECT may shorten the expiry, but not raise it from 0', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const { client } = await t.rawConnect({ version: 5, clientId: 'z' });
      client.send(wire.disconnect(0, [{ id: 0x11, value: 30 }]));
      assert.equal(toHex(await client.expectPacket()), 'e0 01 82');
      await client.expectClosed();
    } finally {
      await t.close();
    }
  });

  test('persistent_client_expiration caps v3 durable sessions', async () => {
    const t = await startTestBroker({
      manualClock: true,
      config: { persistentClientExpiration: 60 },
    });
    try {
      const first = await t.rawConnect({ clientId: 'v3', cleanStart: false });
      first.client.send(wire.disconnect());
      await first.client.expectClosed();
      await settle();
      t.clock.advance(60_000);
      assert.ok(t.log.messages().includes('Expiring client v3 due to timeout.'));
    } finally {
      await t.close();
    }
  });
});
