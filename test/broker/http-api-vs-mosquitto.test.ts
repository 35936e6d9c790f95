/**
 * The HTTP API compared with Mosquitto 2.1.2's on the same traffic: the same keys in the
 * same order, the same traffic counters in /api/v1/systree, the same /api/v1/listeners.
 * Needs a build of 2.1.2 (referenceProgram); skipped with a message where there is none
 * (CI has only Debian's 2.0.11, which has no HTTP API).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mqttConnect } from '../helpers/broker.ts';
import { httpGet } from '../helpers/http.ts';
import { freePort, ourBroker, startBrokerProcess } from '../helpers/process.ts';
import type { RunningBroker } from '../helpers/process.ts';
import { referenceProgram, referenceSkipMessage } from '../helpers/real-db.ts';

const mosquitto212 = referenceProgram('2.1.2', 'mosquitto');

/** Keys whose values depend on the implementation rather than the traffic. */
const IMPLEMENTATION_KEYS = new Set([
  '$SYS/broker/clients/maximum',
  '$SYS/broker/messages/stored',
  '$SYS/broker/store/messages/bytes',
  '$SYS/broker/retained messages/count',
  '$SYS/broker/heap/current',
  '$SYS/broker/heap/maximum',
  '$SYS/broker/uptime',
  '$SYS/broker/packet/out/count',
  '$SYS/broker/packet/out/bytes',
]);

async function start(which: 'ours' | 'mosquitto', httpPort: number): Promise<RunningBroker> {
  const config = [`listener ${httpPort} 127.0.0.1`, 'protocol http_api', 'sys_interval 1'];
  if (which === 'ours') return ourBroker.start({ config });
  return startBrokerProcess(
    {
      kind: 'mosquitto',
      label: 'mosquitto 2.1.2',
      command: mosquitto212 ?? '',
      args: (configPath) => ['-c', configPath],
      preamble: process.getuid?.() === 0 ? ['user root'] : [],
    },
    { config },
  );
}

/** The same conversation on either broker: subscribe, publish at each QoS, disconnect. */
async function converse(broker: RunningBroker): Promise<void> {
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const subscriber = await mqttConnect(url, { clientId: 'sub', keepalive: 0, clean: false });
  await subscriber.client.subscribeAsync('t/#', { qos: 2 });
  const publisher = await mqttConnect(url, { clientId: 'pub', keepalive: 0 });
  await publisher.client.publishAsync('t/0', 'aa', { qos: 0 });
  await publisher.client.publishAsync('t/1', 'bbb', { qos: 1 });
  await publisher.client.publishAsync('t/2', 'cccc', { qos: 2 });
  await subscriber.waitForMessages(3);
  await publisher.end();
  await subscriber.end();
}

/** /api/v1/systree once the broker's $SYS update after the conversation has happened. */
async function systreeAfterUpdate(httpPort: number): Promise<Record<string, number>> {
  await new Promise((resolve) => setTimeout(resolve, 2200));
  const answer = await httpGet(httpPort, '/api/v1/systree');
  assert.equal(answer.status, 200);
  return JSON.parse(answer.body) as Record<string, number>;
}

describe(
  'HTTP API against Mosquitto 2.1.2',
  { skip: mosquitto212 === null ? referenceSkipMessage('2.1.2', 'mosquitto') : false },
  () => {
    test('the same systree keys and traffic counters, listeners and version form', async () => {
      const results: Record<string, { systree: Record<string, number>; listeners: unknown }> = {};
      for (const which of ['mosquitto', 'ours'] as const) {
        const httpPort = await freePort();
        const broker = await start(which, httpPort);
        try {
          await converse(broker);
          const systree = await systreeAfterUpdate(httpPort);
          const listeners = JSON.parse((await httpGet(httpPort, '/api/v1/listeners')).body) as {
            listeners: Record<string, unknown>[];
          };
          // Ports differ between the runs: name them by role.
          for (const entry of listeners.listeners) {
            entry.port =
              entry.port === broker.port ? 'mqtt' : entry.port === httpPort ? 'http' : entry.port;
          }
          const version = await httpGet(httpPort, '/api/v1/version');
          assert.equal(version.status, 200);
          assert.match(version.body, /^\d+\.\d+\.\d+.*$/);
          assert.equal(version.headers['access-control-allow-origin'], '*');
          assert.equal((await httpGet(httpPort, '/api/missing')).status, 404);
          assert.equal(
            (await httpGet(httpPort, '/api/v1/version', { method: 'POST' })).status,
            405,
          );
          results[which] = { systree, listeners };
        } finally {
          await broker.stop();
        }
      }
      const theirs = results.mosquitto;
      const ours = results.ours;
      assert.ok(theirs !== undefined && ours !== undefined);
      // The conversation is in their numbers (their $SYS update ran after it).
      assert.equal(theirs.systree['$SYS/broker/publish/messages/received'], 3);
      assert.equal(theirs.systree['$SYS/broker/publish/bytes/sent'], 9);
      assert.deepEqual(Object.keys(ours.systree), Object.keys(theirs.systree));
      for (const [key, value] of Object.entries(theirs.systree)) {
        if (IMPLEMENTATION_KEYS.has(key)) continue;
        assert.equal(ours.systree[key], value, key);
      }
      assert.deepEqual(ours.listeners, theirs.listeners);
    });
  },
);
