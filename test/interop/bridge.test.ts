/**
 * Bridges between real broker processes on 127.0.0.1 (issue 11): ours bridged to Debian's
 * Mosquitto, Mosquitto bridged to ours and ours to ours, with `topic x/# both 1`, for
 * each bridge_protocol_version; and topic remapping with prefixes. Mosquitto bridged to
 * Mosquitto runs the same scenarios first: it proves the expectations.
 *
 * The link cut and restored, persistence and notifications are in bridge-link.test.ts;
 * TLS and refused connections in bridge-tls.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { MqttJsClient } from '../helpers/broker.ts';
import { mqttConnect } from '../helpers/broker.ts';
import type { BridgeVersion } from '../helpers/bridge.ts';
import {
  LOGGED_PROTOCOL,
  bridgeConfig,
  payloadsUnder,
  probeUntilBridged,
  targetOf,
  url,
  waitForLog,
  waitForMessage,
} from '../helpers/bridge.ts';
import type { RunningBroker } from '../helpers/process.ts';
import { mosquittoSkip } from '../helpers/mosquitto.ts';

type Kind = 'ours' | 'mosquitto';

interface Pair {
  readonly local: Kind;
  readonly remote: Kind;
}

const PAIRS: readonly Pair[] = [
  { local: 'mosquitto', remote: 'mosquitto' },
  { local: 'ours', remote: 'mosquitto' },
  { local: 'mosquitto', remote: 'ours' },
  { local: 'ours', remote: 'ours' },
];

const CASES: readonly { version: BridgeVersion; qos: 1 | 2 }[] = [
  { version: 'mqttv31', qos: 1 },
  { version: 'mqttv311', qos: 1 },
  { version: 'mqttv50', qos: 1 },
  { version: 'mqttv311', qos: 2 },
  { version: 'mqttv50', qos: 2 },
];

function needsMosquitto(pair: Pair): { skip?: string } {
  return pair.local === 'mosquitto' || pair.remote === 'mosquitto' ? mosquittoSkip() : {};
}

function pairName(pair: Pair): string {
  return `${pair.local} → ${pair.remote}`;
}

/** Starts the remote, then the local broker bridged to it; stops both after the test. */
async function startPair(
  t: { after(fn: () => Promise<void>): void },
  pair: Pair,
  bridge: { topics: readonly string[]; version?: BridgeVersion; extra?: readonly string[] },
): Promise<{ local: RunningBroker; remote: RunningBroker }> {
  const remote = await targetOf(pair.remote).start();
  t.after(() => remote.stop());
  const local = await targetOf(pair.local).start({
    config: bridgeConfig({ address: `127.0.0.1:${remote.port}`, ...bridge }),
  });
  t.after(() => local.stop());
  return { local, remote };
}

async function subscriber(
  broker: RunningBroker,
  filter: string,
  qos: 1 | 2 = 1,
): Promise<MqttJsClient> {
  const client = await mqttConnect(url(broker), { protocolVersion: 4 });
  await client.client.subscribeAsync(filter, { qos });
  return client;
}

const COUNT = 5;
const numbered = (prefix: string): string[] =>
  Array.from({ length: COUNT }, (_, i) => `${prefix}-${i + 1}`);

describe('bridge options in our configuration', () => {
  test('no "does not implement" warning for the bridge options', async (t) => {
    const local = await targetOf('ours').start({
      config: bridgeConfig({
        address: '127.0.0.1:1',
        topics: ['x/# both 1'],
        extra: ['cleansession true', 'notifications false', 'try_private false'],
      }),
    });
    t.after(() => local.stop());
    await waitForLog(local, /Connecting bridge b1/);
    assert.doesNotMatch(local.output(), /does not implement the '\w+' option/);
  });
});

for (const pair of PAIRS) {
  describe(
    `bridge ${pairName(pair)}: topic x/# both <qos>`,
    { ...needsMosquitto(pair), concurrency: 3 },
    () => {
      for (const { version, qos } of CASES) {
        test(`bridge_protocol_version ${version}, QoS ${qos}: messages cross both ways, once`, async (t) => {
          const { local, remote } = await startPair(t, pair, {
            topics: [`x/# both ${qos}`],
            version,
          });
          // The remote saw the bridge's CONNECT with this protocol and our keepalive.
          const connected = await waitForLog(
            remote,
            /New (bridge|client) connected from \S+ as br-remote \(p(\d), c(\d), k(\d+)\)/,
          );
          assert.equal(connected[2], String(LOGGED_PROTOCOL[version]), connected[0]);
          assert.equal(connected[4], '5', connected[0]);
          // try_private: the bridge bit goes with MQTT v3.x, never with v5 (Mosquitto 2.0).
          assert.equal(connected[1], version === 'mqttv50' ? 'client' : 'bridge', connected[0]);

          const onLocal = await subscriber(local, 'x/#', qos);
          t.after(() => onLocal.end());
          const onRemote = await subscriber(remote, 'x/#', qos);
          t.after(() => onRemote.end());
          await probeUntilBridged(onRemote, onLocal, 'x/probe/in');
          await probeUntilBridged(onLocal, onRemote, 'x/probe/out');

          for (const payload of numbered('L')) {
            await onLocal.client.publishAsync('x/from/local', payload, { qos });
          }
          for (const payload of numbered('R')) {
            await onRemote.client.publishAsync('x/from/remote', payload, { qos });
          }
          await waitForMessage(onRemote, (m) => m.payload === `L-${COUNT}`, 'L-5 on the remote');
          await waitForMessage(onLocal, (m) => m.payload === `R-${COUNT}`, 'R-5 on the local');
          // Time for an echo or a loop to show.
          await delay(300);
          assert.deepEqual(payloadsUnder(onRemote, 'x/from/local'), numbered('L'), 'on the remote');
          assert.deepEqual(payloadsUnder(onLocal, 'x/from/remote'), numbered('R'), 'on the local');
          // A publisher's own messages come back once, from its own broker, not again over
          // the bridge.
          assert.deepEqual(payloadsUnder(onLocal, 'x/from/local'), numbered('L'), 'local echo');
          assert.deepEqual(payloadsUnder(onRemote, 'x/from/remote'), numbered('R'), 'remote echo');
          for (const message of [...onLocal.received, ...onRemote.received]) {
            if (message.topic.startsWith('x/from/')) assert.equal(message.packet.qos, qos);
          }
          // Outside the bridged tree nothing crosses.
          await onLocal.client.subscribeAsync('y/#', { qos: 1 });
          await onRemote.client.publishAsync('y/not-bridged', 'no', { qos: 1 });
          await onLocal.client.publishAsync('x/from/local', 'after-y', { qos: 1 });
          await waitForMessage(onRemote, (m) => m.payload === 'after-y', 'after-y on the remote');
          assert.equal(onLocal.received.filter((m) => m.topic.startsWith('y/')).length, 0);

          // Retained messages stay retained on the other side (retain as published).
          await onLocal.client.publishAsync('x/kept/l', 'kept-L', { qos: 1, retain: true });
          await onRemote.client.publishAsync('x/kept/r', 'kept-R', { qos: 1, retain: true });
          await waitForMessage(onRemote, (m) => m.payload === 'kept-L', 'kept-L on the remote');
          await waitForMessage(onLocal, (m) => m.payload === 'kept-R', 'kept-R on the local');
          for (const [broker, side] of [
            [local, 'local'],
            [remote, 'remote'],
          ] as const) {
            const late = await subscriber(broker, 'x/kept/#');
            t.after(() => late.end());
            await late.waitForMessages(2, 3000).catch(() => undefined);
            assert.deepEqual(
              late.received
                .map((m) => `${m.topic}=${m.payload}${m.packet.retain ? ' (r)' : ''}`)
                .sort(),
              ['x/kept/l=kept-L (r)', 'x/kept/r=kept-R (r)'],
              `retained on the ${side} side`,
            );
          }
        });
      }
    },
  );

  describe(
    `bridge ${pairName(pair)}: topic remapping`,
    { ...needsMosquitto(pair), concurrency: true },
    () => {
      test('topic # both 1 local/ remote/: prefixes swapped both ways', async (t) => {
        const { local, remote } = await startPair(t, pair, {
          topics: ['# both 1 local/ remote/'],
        });
        const onLocal = await subscriber(local, '#');
        t.after(() => onLocal.end());
        const onRemote = await subscriber(remote, '#');
        t.after(() => onRemote.end());
        await probeUntilBridged(onRemote, onLocal, 'remote/probe', 'local/probe');
        await probeUntilBridged(onLocal, onRemote, 'local/probe2', 'remote/probe2');

        await onLocal.client.publishAsync('local/a/b', 'out-1', { qos: 1 });
        await onRemote.client.publishAsync('remote/c', 'in-1', { qos: 1 });
        // Not under the prefixes: stays where it was published.
        await onLocal.client.publishAsync('other/l', 'stay-l', { qos: 1 });
        await onRemote.client.publishAsync('other/r', 'stay-r', { qos: 1 });
        await onLocal.client.publishAsync('local/last', 'out-last', { qos: 1 });
        await onRemote.client.publishAsync('remote/last', 'in-last', { qos: 1 });
        await waitForMessage(onRemote, (m) => m.payload === 'out-last', 'out-last on the remote');
        await waitForMessage(onLocal, (m) => m.payload === 'in-last', 'in-last on the local');
        await delay(300);

        // Sorted: what crossed the bridge and what was published here interleave freely.
        const seen = (client: MqttJsClient): string[] =>
          client.received
            .filter((m) => !m.topic.includes('probe'))
            .map((m) => `${m.topic}=${m.payload}`)
            .sort();
        assert.deepEqual(seen(onRemote), [
          'other/r=stay-r',
          'remote/a/b=out-1',
          'remote/c=in-1',
          'remote/last=in-last',
          'remote/last=out-last',
        ]);
        assert.deepEqual(seen(onLocal), [
          'local/a/b=out-1',
          'local/c=in-1',
          'local/last=in-last',
          'local/last=out-last',
          'other/l=stay-l',
        ]);
      });

      test('topic "" with prefixes maps one topic to another', async (t) => {
        const { local, remote } = await startPair(t, pair, {
          topics: [
            '"" out 1 sensors/kitchen/temp site1/temperature/kitchen',
            '"" in 1 cmd/heater site1/heater/set',
          ],
        });
        const onLocal = await subscriber(local, '#');
        t.after(() => onLocal.end());
        const onRemote = await subscriber(remote, '#');
        t.after(() => onRemote.end());
        await probeUntilBridged(
          onLocal,
          onRemote,
          'sensors/kitchen/temp',
          'site1/temperature/kitchen',
        );
        await probeUntilBridged(onRemote, onLocal, 'site1/heater/set', 'cmd/heater');
        await delay(300); // a late probe
        onLocal.received.length = 0;
        onRemote.received.length = 0;

        await onLocal.client.publishAsync('sensors/kitchen/temp', '21.5', { qos: 1 });
        await onLocal.client.publishAsync('sensors/kitchen/humidity', '40', { qos: 1 });
        await onRemote.client.publishAsync('site1/heater/set', 'on', { qos: 1 });
        await onRemote.client.publishAsync('site1/temperature/kitchen', 'remote-side', {
          qos: 1,
        });
        await waitForMessage(onRemote, (m) => m.payload === '21.5', '21.5 on the remote');
        await waitForMessage(onLocal, (m) => m.payload === 'on', '"on" on the local');
        await delay(300);
        const seen = (client: MqttJsClient): string[] =>
          client.received.map((m) => `${m.topic}=${m.payload}`).sort();
        assert.deepEqual(seen(onRemote), [
          'site1/heater/set=on',
          'site1/temperature/kitchen=21.5',
          'site1/temperature/kitchen=remote-side',
        ]);
        assert.deepEqual(seen(onLocal), [
          'cmd/heater=on',
          'sensors/kitchen/humidity=40',
          'sensors/kitchen/temp=21.5',
        ]);
      });
    },
  );
}
