/**
 * Asynchronous ACL checks: a plugin whose aclCheck answers with a Promise makes only that
 * client wait (its later packets and deliveries keep their order), everyone else goes on,
 * a rejection or a check that never settles is a denial, and answers are remembered per
 * client, access and topic so the plugin is asked once.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSecurity } from '../../../src/broker/config/types.ts';
import type { TestBroker } from '../../helpers/broker.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import { toHex } from '../../helpers/packet-bytes.ts';
import { mqttConnect, startTestBroker, waitFor } from '../../helpers/broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-async-acl-'));
const brokers: TestBroker[] = [];
after(async () => {
  for (const b of brokers) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Answers by topic prefix, always through a Promise: `slow/` allows after 80 ms, `deny/`
 * denies after 10 ms, `never/` never settles, `reject/` rejects, anything else allows on
 * the next tick. Every question asked is counted on globalThis.aclAsked.
 */
const policySource = `
globalThis.aclAsked = [];
const later = (ms, value) => new Promise((resolve) => setTimeout(() => resolve(value), ms));
export default {
  name: 'async-policy',
  init: () => ({
    basicAuth: () => 'allow',
    aclCheck: ({ access, topic, client }) => {
      globalThis.aclAsked.push(client.clientId + ' ' + access + ' ' + topic);
      if (topic.startsWith('slow/')) return later(80, 'allow');
      if (topic.startsWith('deny/')) return later(10, 'deny');
      if (topic.startsWith('never/')) return new Promise(() => {});
      if (topic.startsWith('reject/')) return Promise.reject(new Error('backend down'));
      if (topic.startsWith('hidden/') && access === 'publish-client-receive') return later(20, 'deny');
      return Promise.resolve('allow');
    },
  }),
};
`;
const policyPath = join(dir, 'async-policy.mjs');
writeFileSync(policyPath, policySource);

function asked(): string[] {
  return (globalThis as unknown as { aclAsked: string[] }).aclAsked;
}

async function brokerWithPolicy(manualClock = false): Promise<TestBroker> {
  const b = await startTestBroker({
    config: {
      security: {
        ...defaultSecurity(false),
        plugins: [{ path: policyPath, options: [], denySpecialChars: true }],
      },
    },
    ...(manualClock ? { manualClock: true } : {}),
  });
  brokers.push(b);
  return b;
}

describe('plugin API: asynchronous ACL checks', () => {
  test('publish, subscribe and unsubscribe wait for the answer; denials are 0x87', async () => {
    const b = await brokerWithPolicy();
    const c = await mqttConnect(b.url, { username: 'u', clientId: 'c1', protocolVersion: 5 });
    await c.client.subscribeAsync(['slow/a', 'plain/a'], { qos: 1 });
    await assert.rejects(c.client.subscribeAsync('deny/a', { qos: 1 }), /Not authorized/);
    await assert.rejects(c.client.publishAsync('deny/x', 'no', { qos: 1 }), /Not authorized/);
    await c.client.publishAsync('slow/a', 'one', { qos: 1 });
    await c.client.publishAsync('plain/a', 'two', { qos: 1 });
    const got = await c.waitForMessages(2);
    assert.deepEqual(
      got.map((m) => `${m.topic}=${m.payload}`),
      ['slow/a=one', 'plain/a=two'],
    );
    await c.end();
    // One UNSUBSCRIBE mixing answers: kept in filter order whatever their timing.
    const { client } = await b.rawConnect({ version: 5, clientId: 'raw', username: 'u' });
    client.send(wire.subscribe({ version: 5, packetId: 1, subscriptions: ['plain/x'] }));
    await client.expectPacket();
    client.send(
      wire.unsubscribe({ version: 5, packetId: 2, filters: ['slow/y', 'deny/b', 'plain/x'] }),
    );
    assert.equal(toHex(await client.expectPacket()), 'b0 06 00 02 00 11 87 00');
  });

  test("a client's packets keep their order behind a pending check", async () => {
    const b = await brokerWithPolicy();
    const sub = await mqttConnect(b.url, { username: 'u', clientId: 'sub', protocolVersion: 5 });
    await sub.client.subscribeAsync('#', { qos: 0 });
    const pub = await mqttConnect(b.url, { username: 'u', clientId: 'pub', protocolVersion: 5 });
    // Sent back to back: the slow topic's 80 ms answer must not let the others overtake it.
    pub.client.publish('slow/first', '1', { qos: 0 });
    pub.client.publish('plain/second', '2', { qos: 0 });
    pub.client.publish('slow/third', '3', { qos: 0 });
    pub.client.publish('plain/fourth', '4', { qos: 0 });
    const got = await sub.waitForMessages(4);
    assert.deepEqual(
      got.map((m) => m.payload),
      ['1', '2', '3', '4'],
    );
    await sub.end();
    await pub.end();
  });

  test('deliveries to one subscriber wait in order for its read checks', async () => {
    const b = await brokerWithPolicy();
    const sub = await mqttConnect(b.url, { username: 'u', clientId: 'reader', protocolVersion: 5 });
    await sub.client.subscribeAsync('#', { qos: 1 });
    const pub = await mqttConnect(b.url, { username: 'u', clientId: 'writer', protocolVersion: 5 });
    // Write checks are answered before the messages are routed; the read checks of
    // 'hidden/' are denied after 20 ms, and what follows must wait behind them.
    await Promise.all([
      pub.client.publishAsync('plain/1', 'a', { qos: 1 }),
      pub.client.publishAsync('hidden/2', 'b', { qos: 1 }),
      pub.client.publishAsync('plain/3', 'c', { qos: 1 }),
      pub.client.publishAsync('hidden/4', 'd', { qos: 0 }),
      pub.client.publishAsync('plain/5', 'e', { qos: 0 }),
    ]);
    await sub.waitForMessages(3);
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(
      sub.received.map((m) => m.payload),
      ['a', 'c', 'e'],
    );
    await sub.end();
    await pub.end();
  });

  test('answers are remembered: one question per client, access and topic', async () => {
    const b = await brokerWithPolicy();
    const c = await mqttConnect(b.url, { username: 'u', clientId: 'memo', protocolVersion: 5 });
    await c.client.subscribeAsync('memo/t', { qos: 1 });
    for (let i = 0; i < 5; i++) await c.client.publishAsync('memo/t', String(i), { qos: 1 });
    await c.waitForMessages(5);
    const mine = asked().filter((line) => line.startsWith('memo ') && line.endsWith(' memo/t'));
    assert.deepEqual(mine.sort(), [
      'memo publish-client-receive memo/t',
      'memo publish-client-send memo/t',
      'memo subscribe memo/t',
    ]);
    await c.end();
  });

  test('a check that never settles holds only its client, then denies after 10 s', async () => {
    const b = await brokerWithPolicy(true);
    const stuck = await mqttConnect(b.url, {
      username: 'u',
      clientId: 'stuck',
      protocolVersion: 5,
    });
    const other = await mqttConnect(b.url, {
      username: 'u',
      clientId: 'other',
      protocolVersion: 5,
    });
    await other.client.subscribeAsync('plain/#', { qos: 1 });
    const pending = stuck.client.publishAsync('never/x', 'held', { qos: 1 }).then(
      () => 'acknowledged',
      (error: unknown) => String(error),
    );
    await new Promise((r) => setTimeout(r, 30));
    // Everyone else goes on meanwhile.
    await other.client.publishAsync('plain/go', 'ok', { qos: 1 });
    await other.waitForMessages(1);
    b.clock.advance(10_000);
    assert.match(await pending, /Not authorized/);
    assert.ok(
      b.log.lines.some((l) =>
        l.message.includes('Plugin async-policy: ACL check did not answer in time; denied.'),
      ),
    );
    // The stuck client's later packets went through once the check gave up.
    await stuck.client.subscribeAsync('plain/after', { qos: 1 });
    await stuck.client.publishAsync('plain/after', 'x', { qos: 1 });
    await stuck.waitForMessages(1);
    await stuck.end();
    await other.end();
  });

  test('a rejected check is a denial, logged, and the connection stays up', async () => {
    const b = await brokerWithPolicy();
    const c = await mqttConnect(b.url, { username: 'u', clientId: 'rej', protocolVersion: 5 });
    await assert.rejects(c.client.publishAsync('reject/x', 'x', { qos: 1 }), /Not authorized/);
    await waitFor(() =>
      b.log.lines.some((l) =>
        l.message.includes('Plugin async-policy: ACL check failed: backend down; denied.'),
      ),
    );
    await c.client.publishAsync('plain/y', 'y', { qos: 1 });
    assert.equal(c.client.connected, true);
    await c.end();
  });

  test('a client that leaves while its check is pending costs nothing afterwards', async () => {
    const b = await brokerWithPolicy();
    const c = await mqttConnect(b.url, { username: 'u', clientId: 'gone', protocolVersion: 5 });
    c.client.publish('slow/bye', 'x', { qos: 1 });
    await new Promise((r) => setTimeout(r, 10));
    c.client.end(true);
    await new Promise((r) => setTimeout(r, 120));
    const d = await mqttConnect(b.url, { username: 'u', clientId: 'next', protocolVersion: 5 });
    await d.client.subscribeAsync('plain/z', { qos: 1 });
    await d.client.publishAsync('plain/z', 'z', { qos: 1 });
    await d.waitForMessages(1);
    await d.end();
  });
});
