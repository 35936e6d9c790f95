/**
 * Persistence across real restarts of the broker process: retained messages, durable
 * sessions with their subscriptions ($share too) and queued QoS 1/2 messages survive a
 * clean stop (SIGTERM) in both stores; SIGUSR1 and autosave_interval save without a stop;
 * with persistence_durable_ack every acknowledged message survives `kill -9` and a QoS 2
 * message still arrives exactly once; an unreadable store is moved aside.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { IClientOptions } from 'mqtt';
import { trackTempDir } from '../../helpers/children.ts';
import { ourBroker, repoRoot, startBrokerProcess } from '../../helpers/process.ts';
import type { RunningBroker } from '../../helpers/process.ts';
import { mqttConnect, waitFor } from '../../helpers/broker.ts';
import { RawClient } from '../../helpers/raw-client.ts';
import { connect, hex, publish, pubrel, subscribe, toHex } from '../../helpers/packet-bytes.ts';

function storeDir(): string {
  return trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-store-')));
}

/** The config lines of each store, for a directory. */
const STORES = {
  'mosquitto.db': (dir: string): string[] => [
    'persistence true',
    `persistence_location ${dir}`,
    'autosave_interval 0',
  ],
  sqlite: (dir: string): string[] => [
    'plugin /usr/lib/x86_64-linux-gnu/mosquitto_persist_sqlite.so',
    `plugin_opt_db_file ${dir}/mosquitto.sqlite3`,
    'plugin_opt_flush_period 1',
  ],
} as const;

type StoreName = keyof typeof STORES;

function url(broker: RunningBroker): string {
  return `mqtt://127.0.0.1:${broker.port}`;
}

/** Starts our broker on the same store as a previous run (a new port each time). */
function start(lines: readonly string[]): Promise<RunningBroker> {
  return ourBroker.start({ config: lines });
}

const durable = (clientId: string): IClientOptions => ({
  clientId,
  clean: false,
  protocolVersion: 5,
  properties: { sessionExpiryInterval: 3600 },
  reconnectPeriod: 0,
});

for (const store of Object.keys(STORES) as StoreName[]) {
  describe(`persistence across a clean restart (${store})`, () => {
    test('retained messages, durable sessions, subscriptions and queued messages', async () => {
      const dir = storeDir();
      const lines = STORES[store](dir);
      let broker = await start(lines);
      try {
        const sub = await mqttConnect(url(broker), durable('keeper'));
        await sub.client.subscribeAsync('q/#', { qos: 2 });
        await sub.client.subscribeAsync('$share/g/s', { qos: 1 });
        await sub.end();
        const pub = await mqttConnect(url(broker), { protocolVersion: 5 });
        await pub.client.publishAsync('r/one', 'retained-1', {
          qos: 1,
          retain: true,
          properties: { contentType: 'text/plain', userProperties: { a: 'b' } },
        });
        for (let i = 0; i < 3; i++) await pub.client.publishAsync('q/a', `m${i}`, { qos: 1 });
        for (let i = 3; i < 5; i++) await pub.client.publishAsync('q/b', `m${i}`, { qos: 2 });
        await pub.client.publishAsync('s', 'shared', { qos: 1 });
        await pub.end();
        await broker.stop();
        assert.ok(!/error/i.test(broker.output()), broker.output());

        broker = await start(lines);
        const back = await mqttConnect(url(broker), durable('keeper'));
        const got = await back.waitForMessages(6, 5000);
        // MQTT.js hands QoS 2 messages over at PUBREL, so compare per QoS: each in order.
        const byQos = (qos: number): string[] =>
          got.filter((m) => m.packet.qos === qos).map((m) => m.payload);
        assert.deepEqual(byQos(1), ['m0', 'm1', 'm2', 'shared']);
        assert.deepEqual(byQos(2), ['m3', 'm4']);
        // The subscriptions came back too: a new message reaches the session.
        const pub2 = await mqttConnect(url(broker), { protocolVersion: 5 });
        await pub2.client.publishAsync('q/c', 'after', { qos: 1 });
        await back.waitForMessages(7, 5000);
        await back.end();
        const reader = await mqttConnect(url(broker), { protocolVersion: 5 });
        await reader.client.subscribeAsync('r/#', { qos: 1 });
        const [retained] = await reader.waitForMessages(1, 5000);
        assert.ok(retained !== undefined);
        assert.equal(retained.payload, 'retained-1');
        assert.equal(retained.packet.retain, true);
        const properties = retained.packet.properties ?? {};
        assert.equal(properties.contentType, 'text/plain');
        assert.deepEqual({ ...properties.userProperties }, { a: 'b' });
        await reader.end();
        await pub2.end();
      } finally {
        await broker.stop();
      }
    });

    test('a session that expired while the broker was down is gone', async () => {
      const dir = storeDir();
      const lines = STORES[store](dir);
      let broker = await start(lines);
      try {
        const sub = await mqttConnect(url(broker), {
          ...durable('short'),
          properties: { sessionExpiryInterval: 1 },
        });
        await sub.client.subscribeAsync('x', { qos: 1 });
        await sub.end();
        await broker.stop();
        await delay(2100);
        broker = await start(lines);
        const back = await mqttConnect(url(broker), durable('short'));
        assert.equal(back.client.connected, true);
        // sessionPresent is false: the session expired during the downtime.
        const pub = await mqttConnect(url(broker));
        await pub.client.publishAsync('x', 'lost', { qos: 1 });
        await delay(200);
        assert.equal(back.received.length, 0);
        await back.end();
        await pub.end();
      } finally {
        await broker.stop();
      }
    });

    test('kill -9 with persistence_durable_ack: nothing acknowledged is lost, QoS 2 once', async () => {
      const dir = storeDir();
      const lines = [...STORES[store](dir), 'persistence_durable_ack true'];
      let broker = await start(lines);
      const acked: string[] = [];
      try {
        const sub = await mqttConnect(url(broker), durable('durable-sub'));
        await sub.client.subscribeAsync('d/#', { qos: 2 });
        await sub.end();
        const pub = await mqttConnect(url(broker), { reconnectPeriod: 0 });
        pub.client.on('error', () => {});
        // Publish in a stream, kill -9 in the middle of it.
        const run = { stop: false };
        const publishing = (async () => {
          for (let i = 0; !run.stop && i < 100_000; i++) {
            const payload = `p${i}`;
            const qos = i % 2 === 0 ? 1 : 2;
            try {
              await pub.client.publishAsync(`d/${qos}`, payload, { qos });
              acked.push(payload);
            } catch {
              return;
            }
          }
        })();
        await waitFor(() => acked.length >= 200, 10_000);
        broker.signal('SIGKILL');
        run.stop = true;
        await broker.stop();
        // MQTT.js keeps the unacknowledged publish waiting for a reconnect: not awaited.
        void publishing;
        pub.client.end(true);

        broker = await start(lines);
        const back = await mqttConnect(url(broker), durable('durable-sub'));
        // Everything acknowledged arrives; a QoS 2 message never twice.
        await waitFor(() => {
          const got = new Set(back.received.map((m) => m.payload));
          return acked.every((p) => got.has(p));
        }, 15_000);
        const twice = back.received
          .filter((m) => m.packet.qos === 2)
          .map((m) => m.payload)
          .filter((p, i, all) => all.indexOf(p) !== i);
        assert.deepEqual(twice, []);
        await back.end();
      } finally {
        await broker.stop();
      }
    });
  });
}

describe('mosquitto.db saves', () => {
  test('SIGUSR1 saves now; kill -9 afterwards keeps what was saved', async () => {
    const dir = storeDir();
    const lines = STORES['mosquitto.db'](dir);
    let broker = await start(lines);
    try {
      const pub = await mqttConnect(url(broker));
      await pub.client.publishAsync('keep/me', 'saved', { qos: 1, retain: true });
      await pub.end();
      broker.signal('SIGUSR1');
      await waitFor(() => existsSync(join(dir, 'mosquitto.db')), 5000);
      broker.signal('SIGKILL');
      await broker.stop();
      broker = await start(lines);
      const reader = await mqttConnect(url(broker));
      await reader.client.subscribeAsync('keep/#');
      const [message] = await reader.waitForMessages(1, 5000);
      assert.equal(message?.payload, 'saved');
      await reader.end();
    } finally {
      await broker.stop();
    }
  });

  test('autosave_interval saves on its own', async () => {
    const dir = storeDir();
    const lines = [...STORES['mosquitto.db'](dir).slice(0, 2), 'autosave_interval 1'];
    let broker = await start(lines);
    try {
      const pub = await mqttConnect(url(broker));
      await pub.client.publishAsync('auto/save', 'x', { qos: 1, retain: true });
      await pub.end();
      await delay(1500);
      broker.signal('SIGKILL');
      await broker.stop();
      broker = await start(lines);
      const reader = await mqttConnect(url(broker));
      await reader.client.subscribeAsync('auto/#');
      const [message] = await reader.waitForMessages(1, 5000);
      assert.equal(message?.payload, 'x');
      await reader.end();
    } finally {
      await broker.stop();
    }
  });

  test('SIGHUP applies a new autosave_interval', async () => {
    const dir = storeDir();
    const broker = await start(STORES['mosquitto.db'](dir));
    try {
      const pub = await mqttConnect(url(broker));
      await pub.client.publishAsync('hup/save', 'x', { qos: 1, retain: true });
      await pub.end();
      const text = readFileSync(broker.configPath, 'utf8');
      writeFileSync(broker.configPath, text.replace('autosave_interval 0', 'autosave_interval 1'));
      broker.signal('SIGHUP');
      await waitFor(() => existsSync(join(dir, 'mosquitto.db')), 4000);
    } finally {
      await broker.stop();
    }
  });

  test('autosave_on_changes counts changes instead of seconds', async () => {
    const dir = storeDir();
    const lines = [
      ...STORES['mosquitto.db'](dir).slice(0, 2),
      'autosave_interval 3',
      'autosave_on_changes true',
    ];
    let broker = await start(lines);
    try {
      const pub = await mqttConnect(url(broker));
      await pub.client.publishAsync('count/1', 'a', { qos: 1, retain: true });
      await pub.client.publishAsync('count/2', 'b', { qos: 1, retain: true });
      await delay(1500);
      assert.ok(!existsSync(join(dir, 'mosquitto.db')), 'saved after 2 of 3 changes');
      await pub.client.publishAsync('count/3', 'c', { qos: 1, retain: true });
      await pub.end();
      await waitFor(() => existsSync(join(dir, 'mosquitto.db')), 3000);
      broker.signal('SIGKILL');
      await broker.stop();
      broker = await start(lines);
      const reader = await mqttConnect(url(broker));
      await reader.client.subscribeAsync('count/#');
      const got = await reader.waitForMessages(3, 5000);
      assert.deepEqual(got.map((m) => m.payload).sort(), ['a', 'b', 'c']);
      await reader.end();
    } finally {
      await broker.stop();
    }
  });

  test('an unreadable store is logged, moved aside, and the broker starts empty', async () => {
    // A real store to damage: one retained message and a durable session.
    const source = storeDir();
    const writer = await start(STORES['mosquitto.db'](source));
    const filler = await mqttConnect(url(writer), durable('damaged'));
    await filler.client.subscribeAsync('x', { qos: 1 });
    await filler.client.publishAsync('r', 'retained', { qos: 1, retain: true });
    await filler.end();
    await writer.stop();
    const good = readFileSync(join(source, 'mosquitto.db'));
    const futureVersion = Buffer.from(good);
    futureVersion.writeUInt32BE(7, 19); // after the 15-byte magic and the 4-byte CRC
    const damaged: Buffer[] = [
      Buffer.from('\u0000\u00b5\u0000mosquitto db garbage'),
      Buffer.from('not a database at all'),
      good.subarray(0, Math.floor(good.length / 2)), // truncated mid-chunk
      futureVersion,
    ];
    for (const content of damaged) {
      const dir = storeDir();
      writeFileSync(join(dir, 'mosquitto.db'), content);
      const broker = await start(STORES['mosquitto.db'](dir));
      try {
        await waitFor(() => /moved to .*corrupt/.test(broker.output()), 5000);
        assert.match(broker.output(), /Unable to restore persistent database: .*mosquitto\.db/);
        const names = readdirSync(dir);
        assert.ok(
          names.some((n) => n.startsWith('mosquitto.db.corrupt-')),
          names.join(' '),
        );
        // Nothing of the damaged file was loaded: no retained message, no session.
        const client = await mqttConnect(url(broker));
        await client.client.subscribeAsync('r', { qos: 1 });
        await client.client.publishAsync('still/serving', 'yes', { qos: 1 });
        await delay(200);
        assert.deepEqual(client.received, []);
        await client.end();
      } finally {
        await broker.stop();
      }
    }
  });

  test('a save that cannot be written is logged and the broker keeps serving', async () => {
    const dir = join(storeDir(), 'missing-directory');
    const broker = await start([
      'persistence true',
      `persistence_location ${dir}`,
      'autosave_interval 0',
    ]);
    try {
      const client = await mqttConnect(url(broker));
      await client.client.publishAsync('a', 'b', { qos: 1, retain: true });
      broker.signal('SIGUSR1');
      await waitFor(() => /Error saving in-memory database/.test(broker.output()), 5000);
      await client.client.publishAsync('a', 'c', { qos: 1 });
      await client.end();
    } finally {
      await broker.stop();
    }
  });
});

describe('a store that cannot be written', () => {
  test('with durable acks: refused with 0x80 (MQTT 5), logged, and the broker keeps serving', async () => {
    const dir = storeDir();
    // The file size limit makes SQLite's writes fail (EFBIG) once the WAL outgrows it;
    // SIGXFSZ is ignored so the write fails instead of killing the process.
    const broker = await startBrokerProcess(
      {
        kind: 'ours',
        label: 'ours (ulimit -f)',
        command: '/bin/sh',
        args: (configPath) => [
          '-c',
          `trap '' XFSZ; ulimit -f 400; exec ${join(repoRoot, 'bin', 'mosquitto')} -c "$0"`,
          configPath,
        ],
      },
      { config: [...STORES.sqlite(dir), 'persistence_durable_ack true'] },
    );
    try {
      const sub = await mqttConnect(url(broker), durable('full-disk'));
      await sub.client.subscribeAsync('big', { qos: 1 });
      await sub.end();
      const pub = await mqttConnect(url(broker), { protocolVersion: 5 });
      const payload = Buffer.alloc(20_000, 7);
      const codes: number[] = [];
      for (let i = 0; i < 100 && !codes.includes(0x80); i++) {
        const ack = await pub.client.publishAsync('big', payload, { qos: 1 }).then(
          () => 0,
          (error: unknown) => (error as { code?: number }).code ?? -1,
        );
        codes.push(ack);
      }
      assert.ok(codes.includes(0x80), `reason codes: ${codes.join(',')}`);
      await waitFor(
        () => /Unable to write persistent database .*mosquitto\.sqlite3/.test(broker.output()),
        5000,
      );
      await pub.client.publishAsync('other', 'still serving', { qos: 0 });
      const probe = await mqttConnect(url(broker));
      await probe.end();
      await pub.end();
    } finally {
      await broker.stop();
    }
  });
});

/** A byte-level MQTT 3.1.1 client with a durable session, connected and CONNACKed. */
async function rawDurable(broker: RunningBroker, clientId: string): Promise<RawClient> {
  const client = await RawClient.open(broker.port);
  client.send(connect({ version: 4, clientId, cleanStart: false }));
  const connack = await client.expectPacket();
  assert.equal(connack[0], 0x20, toHex(connack));
  return client;
}

for (const store of Object.keys(STORES) as StoreName[]) {
  describe(`QoS 2 exactly once across kill -9, byte by byte (${store}, durable acks)`, () => {
    for (const point of ['after PUBREC', 'before PUBREC'] as const) {
      test(`killed ${point}: the publisher's retry is delivered once`, async () => {
        const dir = storeDir();
        const lines = [...STORES[store](dir), 'persistence_durable_ack true'];
        let broker = await start(lines);
        try {
          const subscriber = await rawDurable(broker, 'raw-sub');
          subscriber.send(
            subscribe({ packetId: 1, subscriptions: [{ filter: 'once', options: 2 }] }),
          );
          await subscriber.expectPacket(); // SUBACK
          subscriber.destroy();
          const publisher = await rawDurable(broker, 'raw-pub');
          publisher.send(publish({ topic: 'once', payload: 'exactly', qos: 2, packetId: 7 }));
          if (point === 'after PUBREC') {
            const pubrec = await publisher.expectPacket();
            assert.equal(toHex(pubrec), toHex(hex('50 02 00 07')));
          }
          broker.signal('SIGKILL');
          await broker.stop();
          publisher.destroy();

          broker = await start(lines);
          const again = await rawDurable(broker, 'raw-pub');
          if (point === 'before PUBREC') {
            // Unacknowledged: the client sends the PUBLISH again, with DUP.
            again.send(
              publish({ topic: 'once', payload: 'exactly', qos: 2, packetId: 7, dup: true }),
            );
            const pubrec = await again.expectPacket();
            assert.equal(toHex(pubrec), toHex(hex('50 02 00 07')));
          }
          again.send(pubrel(7));
          const pubcomp = await again.expectPacket();
          assert.equal(toHex(pubcomp), toHex(hex('70 02 00 07')));
          again.destroy();

          const back = await mqttConnect(url(broker), {
            clientId: 'raw-sub',
            clean: false,
            protocolVersion: 4,
          });
          await delay(500);
          assert.deepEqual(
            back.received.map((m) => m.payload),
            ['exactly'],
          );
          await back.end();
        } finally {
          await broker.stop();
        }
      });
    }
  });
}
