/**
 * The router's orders, checked against Debian's Mosquitto on the wire: the order in which
 * overlapping subscriptions receive a message (MQTT 5 gives one copy per subscription,
 * each carrying its subscription identifier), the order of retained messages on
 * SUBSCRIBE, share-group rotation, and the SIGUSR2 dump.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import {
  SubscriptionTree,
  type SubscriptionEntry,
  type SubscriptionOptions,
} from '../../../src/broker/router/subscription-tree.ts';
import { RetainStore } from '../../../src/broker/router/retain-store.ts';

const MOSQUITTO = '/usr/sbin/mosquitto';
const STDBUF = '/usr/bin/stdbuf';
const WAIT_MS = 5000;

const skip =
  !existsSync(MOSQUITTO) && process.env.CI !== 'true'
    ? 'install with: apt-get install -y mosquitto mosquitto-clients'
    : false;

interface Broker {
  readonly port: number;
  readonly process: ChildProcess;
  /** What the broker printed on stdout, line by line (it is run line-buffered). */
  readonly stdout: string[];
  /** Resolves once stdout holds at least `count` lines. */
  stdoutLines(count: number): Promise<string[]>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function startMosquitto(): Promise<Broker> {
  const port = await freePort();
  // Line-buffered stdout, so the SIGUSR2 dump can be read without stopping the broker.
  const child = spawn(STDBUF, ['-oL', MOSQUITTO, '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let partial = '';
  const readers: (() => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    stdout.push(...parts);
    for (const reader of readers.splice(0)) reader();
  });
  function stdoutLines(count: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`stdout has only ${JSON.stringify(stdout)}`));
      }, WAIT_MS);
      const check = (): void => {
        if (stdout.length >= count) {
          clearTimeout(timer);
          resolve(stdout);
        } else {
          readers.push(check);
        }
      };
      check();
    });
  }
  let log = '';
  const running = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`mosquitto did not start:\n${log}`));
    }, WAIT_MS);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      if (/mosquitto version .+ running/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  await running;
  return { port, process: child, stdout, stdoutLines };
}

async function stopMosquitto(broker: Broker): Promise<void> {
  if (broker.process.exitCode !== null) return;
  const exited = once(broker.process, 'exit');
  broker.process.kill('SIGTERM');
  await exited;
}

async function connect(broker: Broker, clientId: string): Promise<MqttClient> {
  return connectAsync({
    host: '127.0.0.1',
    port: broker.port,
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
}

function options(subscriptionId: number): SubscriptionOptions {
  return { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId };
}

function subscriptionIdsOf(packet: IPublishPacket): number[] {
  const ids = packet.properties?.subscriptionIdentifier;
  if (ids === undefined) return [];
  return Array.isArray(ids) ? ids : [ids];
}

/** Resolves with the messages received until one carries `sentinelId`. */
function collectUntil(
  client: MqttClient,
  sentinelId: number,
): Promise<{ topic: string; ids: number[] }[]> {
  const received: { topic: string; ids: number[] }[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener('message', onMessage);
      reject(new Error(`no sentinel after ${JSON.stringify(received)}`));
    }, WAIT_MS);
    function onMessage(topic: string, _payload: Buffer, packet: IPublishPacket): void {
      const ids = subscriptionIdsOf(packet);
      if (ids.includes(sentinelId)) {
        clearTimeout(timer);
        client.removeListener('message', onMessage);
        resolve(received);
        return;
      }
      received.push({ topic, ids });
    }
    client.on('message', onMessage);
  });
}

function collectIds(entry: SubscriptionEntry<{ clientId: string }>, out: number[]): void {
  out.push(entry.options.subscriptionId);
}

function collectClientId(entry: SubscriptionEntry<{ clientId: string }>, out: string[]): void {
  out.push(entry.subscriber.clientId);
}

function collectTopics(topic: string, _message: true, out: string[]): void {
  out.push(topic);
}

/** A fixed, varied set of topics: levels from a small alphabet, depth 1 to 3. */
function sampleTopics(): string[] {
  const levels = ['a', 'b', '', 'c'];
  const topics = new Set<string>();
  let seed = 7;
  while (topics.size < 40) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const depth = 1 + (seed % 3);
    const parts: string[] = [];
    for (let i = 0; i < depth; i++) parts.push(levels[(seed >> (4 + 2 * i)) % 4] ?? 'a');
    const topic = parts.join('/');
    if (topic !== '') topics.add(topic);
  }
  return [...topics, '$x/y', '$x', '$x/y/z'];
}

const FILTERS = [
  '#',
  '+',
  '+/#',
  '+/+',
  '+/+/+',
  '+/b',
  '+/b/#',
  '/#',
  '/+',
  'a',
  'a/#',
  'a/+',
  'a/+/c',
  'a/b',
  'a/b/#',
  'a//#',
  'b/+/#',
  '$x/#',
  '$x/+',
];

/** Runs `body` against a fresh broker, stopped afterwards whatever happens. */
async function withMosquitto(body: (broker: Broker) => Promise<void>): Promise<void> {
  const broker = await startMosquitto();
  try {
    await body(broker);
  } finally {
    await stopMosquitto(broker);
  }
}

describe('router vs Debian Mosquitto', { skip }, () => {
  test('overlapping subscriptions receive a message in the same order', () =>
    withMosquitto(async (broker) => {
      const tree = new SubscriptionTree<{ clientId: string }>();
      const subscriber = await connect(broker, 'order-sub');
      const publisher = await connect(broker, 'order-pub');
      try {
        const filters = [...FILTERS, '$share/g/#', '$share/g/a/+', '$share/h/+/b'];
        for (const [i, filter] of filters.entries()) {
          const id = i + 1;
          tree.add({ clientId: 'order-sub' }, filter, options(id));
          await subscriber.subscribeAsync(filter, {
            qos: 0,
            properties: { subscriptionIdentifier: id },
          });
        }
        const sentinelId = 999;
        await subscriber.subscribeAsync('sentinel', {
          qos: 0,
          properties: { subscriptionIdentifier: sentinelId },
        });
        for (const topic of ['a/b', 'a', 'a/b/c', '/b', 'a//c', 'b/b', '$x/y', 'c']) {
          const arrived = collectUntil(subscriber, sentinelId);
          await publisher.publishAsync(topic, 'x', { qos: 0 });
          await publisher.publishAsync('sentinel', 'end', { qos: 0 });
          const wire = (await arrived).filter((m) => m.topic === topic).flatMap((m) => m.ids);
          const ours: number[] = [];
          tree.match(topic, collectIds, ours);
          assert.deepEqual(ours, wire, `topic ${JSON.stringify(topic)}`);
        }
      } finally {
        await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
      }
    }));

  test('retained messages arrive on SUBSCRIBE in the same order', () =>
    withMosquitto(async (broker) => {
      const store = new RetainStore<true>();
      const publisher = await connect(broker, 'retain-pub');
      const subscriber = await connect(broker, 'retain-sub');
      try {
        for (const topic of sampleTopics()) {
          store.set(topic, true);
          await publisher.publishAsync(topic, topic, { qos: 1, retain: true });
        }
        await publisher.publishAsync('zz/sentinel', 'end', { qos: 1, retain: true });
        for (const filter of FILTERS) {
          const arrived = collectUntil(subscriber, 2);
          await subscriber.subscribeAsync(filter, {
            qos: 0,
            properties: { subscriptionIdentifier: 1 },
          });
          await subscriber.subscribeAsync('zz/sentinel', {
            qos: 0,
            properties: { subscriptionIdentifier: 2 },
          });
          const wire = (await arrived).map((m) => m.topic).filter((t) => t !== 'zz/sentinel');
          const ours: string[] = [];
          store.match(filter, collectTopics, ours);
          assert.deepEqual(ours, wire, `filter ${JSON.stringify(filter)}`);
          await subscriber.unsubscribeAsync([filter, 'zz/sentinel']);
        }
      } finally {
        await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
      }
    }));

  test('a share group rotates in the same order as members join and leave', () =>
    withMosquitto(async (broker) => {
      const tree = new SubscriptionTree<{ clientId: string }>();
      const filter = '$share/g/rr/+';
      const ids = ['rr-a', 'rr-b', 'rr-c', 'rr-d'];
      const clients = new Map<string, MqttClient>();
      for (const id of ids) clients.set(id, await connect(broker, id));
      const publisher = await connect(broker, 'rr-pub');
      const wire: string[] = [];
      const ours: string[] = [];
      let sent = 0;
      for (const [id, client] of clients) {
        client.on('message', (_topic: string, payload: Buffer) => {
          wire[Number(payload.toString())] = id;
        });
      }
      async function join(id: string): Promise<void> {
        tree.add({ clientId: id }, filter, options(0));
        await clients.get(id)?.subscribeAsync(filter, { qos: 0 });
      }
      async function leave(id: string): Promise<void> {
        tree.remove({ clientId: id }, filter);
        await clients.get(id)?.unsubscribeAsync(filter);
      }
      async function publish(count: number): Promise<void> {
        for (let i = 0; i < count; i++) {
          tree.match('rr/x', collectClientId, ours);
          await publisher.publishAsync('rr/x', String(sent++), { qos: 1 });
        }
      }
      try {
        await join('rr-a');
        await join('rr-b');
        await join('rr-c');
        await publish(4);
        await join('rr-d'); // joins at the tail of the rotation
        await publish(5);
        await leave('rr-b'); // b has just had its turn
        await publish(4);
        await leave('rr-a'); // a is next
        await join('rr-b');
        await publish(6);
        // Each member's own PUBACK comes after the messages already queued for it.
        await Promise.all(
          [...clients.values()].map((c) => c.publishAsync('rr-done', '', { qos: 1 })),
        );
        assert.deepEqual(ours, wire);
      } finally {
        await Promise.all([...clients.values(), publisher].map((client) => client.endAsync()));
      }
    }));

  test('the SIGUSR2 dump prints the same lines', () =>
    withMosquitto(async (broker) => {
      const tree = new SubscriptionTree<{ clientId: string }>();
      const c1 = await connect(broker, 'c1');
      const c2 = await connect(broker, 'c2');
      try {
        const plan: [MqttClient, string, 0 | 1 | 2][] = [
          [c1, 'a/b', 1],
          [c1, 'a/#', 1],
          [c1, '+/b', 1],
          [c1, '$share/g1/a/b', 1],
          [c1, '$SYS/broker/#', 1],
          [c1, 'a//b', 1],
          [c1, '/x', 1],
          [c2, 'a/b', 2],
          [c2, '$share/g1/a/b', 2],
          [c2, '$share/g2/a/+', 2],
          [c2, '$share/g2/$foo/+', 2],
          [c2, '$foo/bar', 0],
          [c2, '#', 2],
        ];
        for (const [client, filter, qos] of plan) {
          tree.add({ clientId: client.options.clientId ?? '' }, filter, { ...options(0), qos });
          await client.subscribeAsync(filter, { qos });
        }
        const expected = tree.dump();
        broker.process.kill('SIGUSR2');
        assert.deepEqual(await broker.stdoutLines(expected.length), expected);
      } finally {
        await Promise.all([c1.endAsync(), c2.endAsync()]);
      }
    }));
});
