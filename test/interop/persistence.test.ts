/**
 * mosquitto.db both ways, in one run: Debian's Mosquitto writes a store that our broker
 * loads, and our broker writes one that Mosquitto loads, each with retained messages
 * (MQTT 5 properties included), a durable session with a normal and a shared
 * subscription, and QoS 1/2 messages queued for it while it was away.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { trackTempDir } from '../helpers/children.ts';
import { ourBroker } from '../helpers/process.ts';
import type { BrokerTarget, RunningBroker } from '../helpers/process.ts';
import { mqttConnect } from '../helpers/broker.ts';
import { mosquittoSkip, realMosquitto } from '../helpers/mosquitto.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { connect, hex, publish, pubrel, subscribe, toHex } from '../helpers/packet-bytes.ts';

const durable = (clientId: string, version: 4 | 5): IClientOptions => ({
  clientId,
  clean: false,
  protocolVersion: version,
  ...(version === 5 ? { properties: { sessionExpiryInterval: 7200 } } : {}),
  reconnectPeriod: 0,
});

function url(broker: RunningBroker): string {
  return `mqtt://127.0.0.1:${broker.port}`;
}

/** Fills a broker with state, then stops it cleanly (it saves). */
async function writeState(target: BrokerTarget, dir: string): Promise<void> {
  const broker = await target.start({
    config: ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 0'],
  });
  try {
    for (const version of [4, 5] as const) {
      const sub = await mqttConnect(url(broker), durable(`keeper-v${version}`, version));
      await sub.client.subscribeAsync(`q${version}/#`, { qos: 2 });
      await sub.client.subscribeAsync(`$share/g/s${version}`, { qos: 1 });
      await sub.end();
    }
    const pub = await mqttConnect(url(broker), { protocolVersion: 5 });
    await pub.client.publishAsync('r/plain', 'retained-plain', { qos: 0, retain: true });
    await pub.client.publishAsync('r/props', 'retained-props', {
      qos: 1,
      retain: true,
      properties: {
        contentType: 'application/json',
        payloadFormatIndicator: true,
        userProperties: { k: 'v' },
      },
    });
    for (const version of [4, 5]) {
      await pub.client.publishAsync(`q${version}/a`, `v${version}-1`, { qos: 1 });
      await pub.client.publishAsync(`q${version}/b`, `v${version}-2`, { qos: 2 });
      await pub.client.publishAsync(`s${version}`, `v${version}-shared`, { qos: 1 });
    }
    await pub.end();
  } finally {
    await broker.stop();
  }
}

/**
 * Starts a broker on the store and checks that everything came back. `sharedSaved`: the
 * writer kept shared subscriptions (Mosquitto 2.0 leaves them out of the file; we don't).
 */
async function checkState(target: BrokerTarget, dir: string, sharedSaved: boolean): Promise<void> {
  const broker = await target.start({
    config: ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 0'],
  });
  try {
    for (const version of [4, 5] as const) {
      const back = await mqttConnect(url(broker), durable(`keeper-v${version}`, version));
      const got = await back.waitForMessages(3, 5000);
      // MQTT.js hands QoS 2 messages over at PUBREL: compare as a set with their QoS.
      assert.deepEqual(
        got.map((m) => `${m.payload}/${m.packet.qos}`).sort(),
        [`v${version}-1/1`, `v${version}-2/2`, `v${version}-shared/1`],
        `${target.label}: session keeper-v${version}`,
      );
      // Its subscriptions are back too.
      const pub = await mqttConnect(url(broker));
      await pub.client.publishAsync(`q${version}/later`, 'later', { qos: 1 });
      await back.waitForMessages(4, 5000);
      if (sharedSaved) {
        await pub.client.publishAsync(`s${version}`, 'shared-later', { qos: 1 });
        const all = await back.waitForMessages(5, 5000);
        assert.equal(all[4]?.payload, 'shared-later');
      }
      await pub.end();
      await back.end();
    }
    const reader = await mqttConnect(url(broker), { protocolVersion: 5 });
    await reader.client.subscribeAsync('r/#', { qos: 1 });
    const got = await reader.waitForMessages(2, 5000);
    const byTopic = new Map(got.map((m) => [m.topic, m]));
    assert.equal(byTopic.get('r/plain')?.payload, 'retained-plain');
    const props = byTopic.get('r/props');
    assert.ok(props !== undefined);
    assert.equal(props.payload, 'retained-props');
    const properties = props.packet.properties ?? {};
    assert.equal(properties.contentType, 'application/json');
    assert.equal(properties.payloadFormatIndicator, true);
    assert.deepEqual({ ...properties.userProperties }, { k: 'v' });
    await reader.end();
  } finally {
    await broker.stop();
  }
}

describe('mosquitto.db between Mosquitto and us', mosquittoSkip(['mosquitto']), () => {
  test('a store written by Mosquitto loads in ours', async () => {
    const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-db-')));
    await writeState(realMosquitto, dir);
    await checkState(ourBroker, dir, false);
  });

  test('a store written by ours loads in Mosquitto', async () => {
    const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-db-')));
    await writeState(ourBroker, dir);
    await checkState(realMosquitto, dir, true);
  });
});

async function rawDurable(broker: RunningBroker, clientId: string): Promise<RawClient> {
  const client = await RawClient.open(broker.port);
  client.send(connect({ version: 4, clientId, cleanStart: false }));
  const connack = await client.expectPacket();
  assert.equal(connack[0], 0x20, toHex(connack));
  return client;
}

/**
 * Messages in flight when the writer stops: an outgoing QoS 1 message sent but not
 * acknowledged, and an incoming QoS 2 message acknowledged with PUBREC but not released.
 * The reader resends the first with DUP and releases the second on PUBREL.
 */
async function inflightAcross(writer: BrokerTarget, reader: BrokerTarget): Promise<void> {
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-db-')));
  const config = ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 0'];
  let broker = await writer.start({ config });
  try {
    const sub = await rawDurable(broker, 'inflight-sub');
    sub.send(subscribe({ packetId: 1, subscriptions: [{ filter: 'f', options: 1 }] }));
    await sub.expectPacket(); // SUBACK
    const pub = await rawDurable(broker, 'inflight-pub');
    pub.send(publish({ topic: 'f', payload: 'held', qos: 2, packetId: 5 }));
    assert.equal(toHex(await pub.expectPacket()), toHex(hex('50 02 00 05')));
    pub.send(publish({ topic: 'f', payload: 'unacked', qos: 1, packetId: 6 }));
    await pub.expectPacket(); // PUBACK
    const delivered = await sub.expectPacket();
    assert.equal(delivered[0], 0x32, toHex(delivered)); // QoS 1, not yet DUP
    sub.destroy();
    pub.destroy();
    await broker.stop();

    broker = await reader.start({ config });
    const subBack = await rawDurable(broker, 'inflight-sub');
    const resent = await subBack.expectPacket();
    // The same PUBLISH with DUP set: 0x3a, topic "f", same packet id, payload.
    assert.equal(resent[0], 0x3a, `${reader.label}: ${toHex(resent)}`);
    assert.ok(resent.subarray(2).includes(Buffer.from('unacked')), toHex(resent));
    const pubBack = await rawDurable(broker, 'inflight-pub');
    pubBack.send(pubrel(5));
    assert.equal(toHex(await pubBack.expectPacket()), toHex(hex('70 02 00 05')));
    const released = await subBack.expectPacket();
    assert.equal((released[0] ?? 0) & 0xf0, 0x30, toHex(released));
    assert.ok(released.includes(Buffer.from('held')), toHex(released));
    subBack.destroy();
    pubBack.destroy();
  } finally {
    await broker.stop();
  }
}

describe('messages in flight between Mosquitto and us', mosquittoSkip(['mosquitto']), () => {
  test('written by Mosquitto, resumed by ours', async () => {
    await inflightAcross(realMosquitto, ourBroker);
  });

  test('written by ours, resumed by Mosquitto', async () => {
    await inflightAcross(ourBroker, realMosquitto);
  });
});
