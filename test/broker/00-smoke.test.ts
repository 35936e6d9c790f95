import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker } from '../helpers/broker.ts';
import { hex, toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';

test('CONNECT, SUBSCRIBE, PUBLISH QoS 0 and 1 round trip (3.1.1)', async () => {
  const t = await startTestBroker();
  try {
    const { client: sub, connack } = await t.rawConnect({ clientId: 'sub' });
    assert.equal(toHex(connack), '20 02 00 00');
    sub.send(wire.subscribe({ packetId: 1, subscriptions: [{ filter: 'a/#', options: 1 }] }));
    assert.equal(toHex(await sub.expectPacket()), '90 03 00 01 01');
    const { client: pub } = await t.rawConnect({ clientId: 'pub' });
    pub.send(wire.publish({ topic: 'a/b', payload: 'hi' }));
    assert.equal(
      toHex(await sub.expectPacket()),
      toHex(wire.publish({ topic: 'a/b', payload: 'hi' })),
    );
    pub.send(wire.publish({ topic: 'a/c', payload: 'x', qos: 1, packetId: 7 }));
    assert.equal(toHex(await pub.expectPacket()), '40 02 00 07');
    assert.equal(
      toHex(await sub.expectPacket()),
      toHex(wire.publish({ topic: 'a/c', payload: 'x', qos: 1, packetId: 1 })),
    );
    sub.send(wire.puback(1));
    pub.send(hex('e0 00'));
    await pub.expectClosed();
  } finally {
    await t.close();
  }
});
