/**
 * $SYS (features §6): the broker's retained status topics, published at sys_interval
 * (ManualClock), only on change, never to `#` subscribers; sys_interval 0 disables them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mqttConnect, settle, startTestBroker, waitFor } from '../helpers/broker.ts';

const EXPECTED_TOPICS = [
  '$SYS/broker/version',
  '$SYS/broker/uptime',
  '$SYS/broker/clients/total',
  '$SYS/broker/clients/connected',
  '$SYS/broker/clients/active',
  '$SYS/broker/clients/disconnected',
  '$SYS/broker/clients/inactive',
  '$SYS/broker/clients/expired',
  '$SYS/broker/load/messages/received/1min',
  '$SYS/broker/load/connections/15min',
  '$SYS/broker/load/sockets/5min',
  '$SYS/broker/messages/stored',
  '$SYS/broker/store/messages/count',
  '$SYS/broker/store/messages/bytes',
  '$SYS/broker/subscriptions/count',
  '$SYS/broker/shared_subscriptions/count',
  '$SYS/broker/retained messages/count',
  '$SYS/broker/heap/current',
  '$SYS/broker/heap/maximum',
  '$SYS/broker/messages/received',
  '$SYS/broker/messages/sent',
  '$SYS/broker/publish/messages/dropped',
  '$SYS/broker/publish/messages/received',
  '$SYS/broker/publish/messages/sent',
  '$SYS/broker/bytes/received',
  '$SYS/broker/bytes/sent',
  '$SYS/broker/publish/bytes/received',
  '$SYS/broker/publish/bytes/sent',
];

describe('$SYS', () => {
  test('every topic, retained, at sys_interval; # does not see them', async () => {
    const t = await startTestBroker({ manualClock: true, config: { sysInterval: 10 } });
    try {
      const everything = await mqttConnect(t.url, { clientId: 'hash' });
      await everything.client.subscribeAsync('#');
      const sys = await mqttConnect(t.url, { clientId: 'sys' });
      await sys.client.subscribeAsync('$SYS/#', { qos: 2 });
      // Waits for the last retained topic rather than a fixed pause: a loaded machine (the
      // suite runs two files at once) can take longer than any pause chosen here.
      const received = (from: number, topics: readonly string[]): boolean => {
        const seen = new Set(sys.received.slice(from).map((m) => m.topic));
        return topics.every((topic) => seen.has(topic));
      };
      await waitFor(() => received(0, EXPECTED_TOPICS), 5000).catch(() => undefined);
      const topics = new Set(sys.received.map((m) => m.topic));
      for (const topic of EXPECTED_TOPICS) assert.ok(topics.has(topic), topic);
      assert.ok(sys.received.every((m) => m.packet.retain));
      assert.equal(
        sys.received.find((m) => m.topic === '$SYS/broker/version')?.payload,
        'mosquitto version 2.0.22 (mosquitto-ts 0.1.0)',
      );
      const before = sys.received.length;
      t.clock.advance(10_000);
      const updated = ['uptime', 'clients/connected', 'clients/maximum', 'subscriptions/count'];
      await waitFor(
        () =>
          received(
            before,
            updated.map((name) => `$SYS/broker/${name}`),
          ),
        5000,
      ).catch(() => undefined);
      const update = sys.received.slice(before);
      assert.deepEqual(update.find((m) => m.topic === '$SYS/broker/uptime')?.payload, '10 seconds');
      assert.equal(update.find((m) => m.topic === '$SYS/broker/clients/connected')?.payload, '2');
      assert.equal(update.find((m) => m.topic === '$SYS/broker/clients/maximum')?.payload, '2');
      assert.equal(update.find((m) => m.topic === '$SYS/broker/subscriptions/count')?.payload, '2');
      assert.equal(
        update.find((m) => m.topic === '$SYS/broker/version'),
        undefined,
      );
      assert.equal(everything.received.length, 0);
      await everything.end();
      await sys.end();
    } finally {
      await t.close();
    }
  });

  test('sys_interval 0: nothing is published', async () => {
    const t = await startTestBroker({ config: { sysInterval: 0 } });
    try {
      const sys = await mqttConnect(t.url, { clientId: 'sys' });
      await sys.client.subscribeAsync('$SYS/#');
      await settle(50);
      assert.equal(sys.received.length, 0);
      await sys.end();
    } finally {
      await t.close();
    }
  });
});
