/**
 * The library against real brokers over real sockets: our broker (in-process) and
 * Debian's mosquitto. QoS 0/1/2 round trips through async-iterable subscriptions, MQTT 5
 * properties end to end, wills, retained messages, topic aliases and unsubscribe.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MqttClient } from '../../src/client/client.ts';
import type { ReceivedMessage } from '../../src/client/message.ts';
import { ProtocolVersion } from '../../src/protocol/constants.ts';
import { startTestBroker } from '../helpers/broker.ts';
import { mosquittoSkip, startRealBroker } from '../helpers/mosquitto.ts';

interface Target {
  readonly name: string;
  readonly skip: { skip?: string };
  start(): Promise<{ url: string; stop: () => Promise<void> }>;
}

const targets: readonly Target[] = [
  {
    name: 'our broker',
    skip: {},
    async start() {
      const broker = await startTestBroker();
      return { url: broker.url, stop: () => broker.close() };
    },
  },
  {
    name: "Debian's mosquitto",
    skip: mosquittoSkip(),
    async start() {
      const broker = await startRealBroker();
      return { url: `mqtt://${broker.host}:${broker.port}`, stop: () => broker.stop() };
    },
  },
];

/** The next `count` messages of an iterable. */
async function take(
  source: AsyncIterable<ReceivedMessage>,
  count: number,
): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  if (count === 0) return out;
  for await (const message of source) {
    out.push(message);
    if (out.length === count) break;
  }
  return out;
}

for (const target of targets) {
  describe(`MqttClient against ${target.name}`, target.skip, () => {
    let url = '';
    let stop: () => Promise<void> = () => Promise.resolve();
    before(async () => {
      const started = await target.start();
      url = started.url;
      stop = started.stop;
    });
    after(() => stop());

    for (const version of [ProtocolVersion.V31, ProtocolVersion.V311, ProtocolVersion.V5]) {
      test(`QoS 0, 1 and 2 round trip (protocol level ${version})`, async () => {
        const subscriber = await MqttClient.connect({ url, protocolVersion: version });
        const publisher = await MqttClient.connect({ url, protocolVersion: version });
        const topic = `rt/${version}`;
        const sub = await subscriber.subscribe(`${topic}/+`, { qos: 2 });
        assert.deepEqual(sub.reasonCodes, [2]);
        for (const qos of [0, 1, 2] as const) {
          const outcome = await publisher.publish(`${topic}/${qos}`, `q${qos}`, { qos });
          assert.equal(outcome.reasonCode, 0);
        }
        const got = await take(sub, 3);
        assert.deepEqual(
          got.map((m) => [m.topic, m.payload.toString(), m.qos]),
          [
            [`${topic}/0`, 'q0', 0],
            [`${topic}/1`, 'q1', 1],
            [`${topic}/2`, 'q2', 2],
          ],
        );
        await publisher.end();
        await subscriber.end();
      });
    }

    test('MQTT 5 properties travel end to end', async () => {
      const subscriber = await MqttClient.connect({ url });
      const publisher = await MqttClient.connect({ url });
      const sub = await subscriber.subscribe('props/t', { qos: 1 });
      await publisher.publish('props/t', 'body', {
        qos: 1,
        properties: {
          payloadFormatIndicator: 1,
          messageExpiryInterval: 60,
          contentType: 'text/plain',
          responseTopic: 'props/reply',
          correlationData: Buffer.from('c-1'),
          userProperties: [
            ['k', 'v1'],
            ['k', 'v2'],
          ],
        },
      });
      const message = (await take(sub, 1))[0]!;
      const p = message.properties;
      assert.equal(p.payloadFormatIndicator, 1);
      assert.equal(p.contentType, 'text/plain');
      assert.equal(p.responseTopic, 'props/reply');
      assert.equal(p.correlationData?.toString(), 'c-1');
      assert.deepEqual(p.userProperties, [
        ['k', 'v1'],
        ['k', 'v2'],
      ]);
      assert.ok((p.messageExpiryInterval ?? 0) <= 60);
      await publisher.end();
      await subscriber.end();
    });

    test('the will is published when the client goes away without DISCONNECT', async () => {
      const watcher = await MqttClient.connect({ url });
      const sub = await watcher.subscribe('will/topic');
      const doomed = await MqttClient.connect({
        url,
        will: { topic: 'will/topic', payload: 'gone', qos: 1 },
      });
      doomed.destroy();
      const message = (await take(sub, 1))[0]!;
      assert.equal(message.payload.toString(), 'gone');
      await watcher.end();
    });

    test('DISCONNECT with reason 0x04 also publishes the will (MQTT 5)', async () => {
      const watcher = await MqttClient.connect({ url });
      const sub = await watcher.subscribe('will/04');
      const leaving = await MqttClient.connect({ url, will: { topic: 'will/04', payload: 'bye' } });
      await leaving.end({ reasonCode: 0x04 });
      const message = (await take(sub, 1))[0]!;
      assert.equal(message.payload.toString(), 'bye');
      await watcher.end();
    });

    test('a retained message reaches a later subscriber with RETAIN set', async () => {
      const publisher = await MqttClient.connect({ url });
      await publisher.publish('retained/t', 'kept', { qos: 1, retain: true });
      const subscriber = await MqttClient.connect({ url });
      const sub = await subscriber.subscribe('retained/#');
      const message = (await take(sub, 1))[0]!;
      assert.equal(message.retain, true);
      assert.equal(message.payload.toString(), 'kept');
      await publisher.publish('retained/t', '', { qos: 1, retain: true });
      await publisher.end();
      await subscriber.end();
    });

    test('automatic topic aliases are accepted by the broker', async () => {
      const subscriber = await MqttClient.connect({ url });
      const publisher = await MqttClient.connect({ url, autoTopicAlias: true });
      const sub = await subscriber.subscribe('alias/long/topic/name');
      for (const n of [1, 2, 3])
        await publisher.publish('alias/long/topic/name', String(n), { qos: 1 });
      const got = await take(sub, 3);
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload.toString()]),
        [
          ['alias/long/topic/name', '1'],
          ['alias/long/topic/name', '2'],
          ['alias/long/topic/name', '3'],
        ],
      );
      await publisher.end();
      await subscriber.end();
    });

    test('unsubscribe ends the subscription and stops delivery', async () => {
      const client = await MqttClient.connect({ url });
      const sub = await client.subscribe('unsub/t');
      const result = await sub.unsubscribe();
      assert.deepEqual(result.reasonCodes, [0]);
      const everything = client.messages();
      await client.publish('unsub/t', 'after');
      await client.publish('control/t', 'x');
      const control = await client.subscribe('control/t');
      await client.publish('control/t', 'seen');
      const message = (await take(control, 1))[0]!;
      assert.equal(message.payload.toString(), 'seen');
      assert.equal((await take(sub, 0)).length, 0);
      const iterator = sub[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).done, true);
      const first = (await take(everything, 1))[0]!;
      assert.equal(first.topic, 'control/t');
      await client.end();
    });

    test('the broker assigns a client id to an MQTT 5 client without one', async () => {
      const client = await MqttClient.connect({ url });
      assert.match(client.clientId, /^auto-/);
      await client.end();
      assert.equal(await client.closed(), null);
    });
  });
}
