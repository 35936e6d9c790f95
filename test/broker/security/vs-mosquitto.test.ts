/**
 * Our broker next to Debian's Mosquitto with the same password and ACL files: the same
 * log lines for a password file full of bad entries, and the same answers (who gets in,
 * whose publish is refused, who receives what, which will goes out) for one scenario.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from '../../helpers/raw-client.ts';
import { toHex } from '../../helpers/packet-bytes.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import type { MqttJsClient } from '../../helpers/broker.ts';
import { mqttConnect, waitFor } from '../../helpers/broker.ts';
import type { BrokerTarget, RunningBroker } from '../../helpers/process.ts';
import { ourBroker } from '../../helpers/process.ts';
import { mosquittoSkip, realMosquitto } from '../../helpers/mosquitto.ts';
import { HashType } from '../../../src/common/password.ts';
import { passwordEntry } from './fixtures.ts';

const TARGETS: readonly BrokerTarget[] = [ourBroker, realMosquitto];

/** The security log lines, without timestamps, the temporary directory as {dir}. */
function securityLines(broker: RunningBroker): string[] {
  return broker
    .output()
    .replaceAll(broker.dir, '{dir}')
    .split('\n')
    .map((line) => line.replace(/^\d+: /, ''))
    .filter((line) => /password|Invalid line|removing entry/.test(line));
}

const BAD_PASSWORD_FILE = [
  '# comment',
  '',
  `  ${passwordEntry('alice', 'a')} \r`,
  'nocolon',
  'empty:',
  ':lead',
  'plain:secret',
  'bad:$5$abc',
  'iter:$7$0$abc$def',
  'salt:$7$101$c2hvcnQ=$aGFzaA==',
  'missing:$7$101',
  passwordEntry('six', 'six', HashType.Sha512),
  'hash:$7$101$7E3qPeGNYgGE7Zdg$abc',
  'last:',
].join('\n');

describe('password file against Debian’s broker', mosquittoSkip(), () => {
  test('the same lines for bad entries, and the same users let in', async () => {
    const results: string[][] = [];
    for (const target of TARGETS) {
      const broker = await target.start({
        allowAnonymous: false,
        config: ['password_file {dir}/pw'],
        files: { pw: BAD_PASSWORD_FILE },
      });
      try {
        const answers: string[] = [];
        for (const [username, password] of [
          ['alice', 'a'],
          ['six', 'six'],
          ['six', 'x'],
          ['plain', 'secret'],
          ['empty', ''],
        ] as const) {
          const client = await RawClient.open(broker.port);
          client.send(wire.connect({ clientId: `c-${username}`, username, password }));
          answers.push(`${username}/${password}: ${toHex(await client.expectPacket())}`);
          client.destroy();
        }
        results.push([...securityLines(broker), ...answers]);
      } finally {
        await broker.stop();
      }
    }
    assert.deepEqual(results[0], results[1]);
    assert.ok((results[0] ?? []).includes('alice/a: 20 02 00 00'));
  });
});

const PASSWORDS = ['alice', 'bob', 'victim', '+']
  .map((user) => passwordEntry(user, 'pw'))
  .join('\n');

const ACL = `topic read public/#
user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret
user bob
topic write shared/#
topic write public/#
topic write alice/inbox
user victim
topic read victim/#
pattern readwrite clients/%c/#
pattern read users/%u/in
`;

/** One run of the scenario against one broker: what each client saw, as lines. */
async function aclScenario(broker: RunningBroker): Promise<string[]> {
  const url = `mqtt://${broker.host}:${broker.port}`;
  const clients: MqttJsClient[] = [];
  const connect = async (clientId: string, username: string | null): Promise<MqttJsClient> => {
    const client = await mqttConnect(url, {
      clientId,
      protocolVersion: 5,
      ...(username === null ? {} : { username, password: 'pw' }),
    });
    clients.push(client);
    return client;
  };
  const report: string[] = [];
  try {
    const subscribers = {
      anon: await connect('anon', null),
      alice: await connect('dev1', 'alice'),
      victim: await connect('victim', 'victim'),
      hashId: await connect('#', 'bob'),
      plusUser: await connect('plain', '+'),
    };
    for (const subscriber of Object.values(subscribers)) {
      await subscriber.client.subscribeAsync(['#', 'retained/#']);
    }
    const bob = await connect('dev2', 'bob');
    const publishes: [MqttJsClient, string][] = [
      [bob, 'shared/news'],
      [bob, 'shared/secret'],
      [bob, 'public/x'],
      [bob, 'alice/inbox'],
      [bob, 'alice/other'],
      [bob, 'clients/dev2/status'],
      [bob, 'clients/dev1/status'],
      [subscribers.alice, 'clients/dev1/status'],
      [subscribers.alice, 'alice/note'],
      [subscribers.alice, 'shared/news'],
      [subscribers.victim, 'clients/victim/cmd'],
      [subscribers.hashId, 'clients/victim/cmd'],
      [subscribers.plusUser, 'users/victim/in'],
      [subscribers.anon, 'public/y'],
    ];
    for (const [publisher, topic] of publishes) {
      const id = publisher.client.options.clientId ?? '?';
      try {
        await publisher.client.publishAsync(topic, `from ${id}`, { qos: 1 });
        report.push(`${id} -> ${topic}: ok`);
      } catch (error) {
        report.push(`${id} -> ${topic}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    // Wills: one bob may not write, then one he may. Once the second has arrived, the
    // first (closed before the second client even connected) would have too.
    for (const [clientId, topic] of [
      ['will-denied', 'alice/will'],
      ['will-ok', 'shared/will'],
    ] as const) {
      const raw = await RawClient.open(broker.port);
      raw.send(
        wire.connect({
          clientId,
          username: 'bob',
          password: 'pw',
          will: { topic, payload: clientId },
        }),
      );
      assert.equal(toHex(await raw.expectPacket()), '20 02 00 00');
      raw.destroy();
    }
    await waitFor(() => subscribers.alice.received.some((m) => m.topic === 'shared/will'));
    for (const [name, subscriber] of Object.entries(subscribers)) {
      // The SUBACK comes after every delivery queued before it.
      await subscriber.client.subscribeAsync('sync');
      for (const message of subscriber.received) {
        report.push(`${name} got ${message.topic} (${message.payload})`);
      }
    }
  } finally {
    for (const client of clients) client.client.end(true);
  }
  return report;
}

describe('ACL file against Debian’s broker', mosquittoSkip(), () => {
  test('the same publishes refused and the same deliveries', async () => {
    const reports: string[][] = [];
    for (const target of TARGETS) {
      const broker = await target.start({
        allowAnonymous: true,
        config: ['password_file {dir}/pw', 'acl_file {dir}/acl'],
        files: { pw: `${PASSWORDS}\n`, acl: ACL },
      });
      try {
        reports.push(await aclScenario(broker));
      } finally {
        await broker.stop();
      }
    }
    assert.deepEqual(reports[0], reports[1]);
    const report = reports[0] ?? [];
    assert.ok(report.includes('dev2 -> shared/secret: ok'));
    assert.ok(report.includes('alice got shared/news (from dev2)'));
    assert.ok(!report.some((line) => line.startsWith('alice got shared/secret')));
    assert.ok(report.includes('alice got shared/will (will-ok)'));
  });
});
