/**
 * A QoS 2 PUBLISH resent after reconnects (found by the conversation fuzzer, seed
 * 656472569): a publisher sends it, resends it once with DUP on the same connection, then
 * loses the connection before PUBREC and, as the specification requires, resends it on
 * the resumed session. The third copy used to count against the CVE-2023-28366 limit
 * ("third copy before PUBREL is a protocol error") across connections, so the broker
 * closed the connection, and again on every reconnect. Mosquitto resets the count on
 * reconnect (db__message_reconnect_reset_incoming()).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker } from '../helpers/broker.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { toHex } from '../helpers/packet-bytes.ts';

for (const version of [4, 5] as const) {
  test(`a QoS 2 PUBLISH resent on each reconnect is acknowledged and delivered once (v${version})`, async () => {
    const tb = await startTestBroker();
    try {
      const { client: subscriber } = await tb.rawConnect({ clientId: 'sub', version });
      subscriber.send(
        wire.subscribe({ packetId: 1, version, subscriptions: [{ filter: 'q2/t', options: 2 }] }),
      );
      await subscriber.expectPacket();
      const session = { clientId: 'pub', version, cleanStart: false } as const;
      const properties = version === 5 ? [{ id: 0x11, value: 300 }] : [];
      const message = wire.publish({
        topic: 'q2/t',
        payload: 'once',
        qos: 2,
        packetId: 7,
        version,
      });
      const resend = wire.publish({
        topic: 'q2/t',
        payload: 'once',
        qos: 2,
        packetId: 7,
        version,
        dup: true,
      });

      const first = await tb.rawConnect({ ...session, properties });
      first.client.send(message);
      first.client.send(resend);
      await first.client.expectPacket();
      await first.client.expectPacket();
      first.client.destroy();
      for (let reconnect = 0; reconnect < 3; reconnect++) {
        const again = await tb.rawConnect({ ...session, properties });
        assert.equal(again.connack[2], 1, 'session present');
        again.client.send(resend);
        const answer = await again.client.next();
        assert.equal(
          answer.kind,
          'packet',
          `reconnect ${reconnect}: ${answer.kind} instead of PUBREC`,
        );
        assert.equal(toHex(answer.bytes.subarray(0, 1)), '50', 'PUBREC');
        assert.equal(answer.bytes.readUInt16BE(2), 7);
        if (reconnect < 2) {
          again.client.destroy();
          continue;
        }
        again.client.send(version === 5 ? wire.pubrel(7, 0, []) : wire.pubrel(7));
        const pubcomp = await again.client.expectPacket();
        assert.equal(pubcomp[0], 0x70);
      }
      const delivered = await subscriber.expectPacket();
      assert.equal((delivered[0] ?? 0) & 0xf0, 0x30);
      const extra = await subscriber.next(300);
      assert.equal(extra.kind, 'timeout', 'the message was delivered once');
    } finally {
      await tb.close();
    }
  });
}
