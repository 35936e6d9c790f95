/**
 * Interoperability with Debian's real dynamic security plugin (Mosquitto 2.0.11's
 * mosquitto_dynamic_security.so loaded by /usr/sbin/mosquitto):
 * - the same $CONTROL/dynamic-security/v1 requests give the same response JSON;
 * - the file the real plugin writes loads in ours with the same state and decisions;
 * - the file ours writes loads in the real plugin, whose broker then admits and refuses
 *   the same connections and subscriptions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { DynamicSecurity } from '../../../../src/broker/plugins/dynamic-security/index.ts';
import { mosquittoSkip, requiredPath, startRealBroker } from '../../../helpers/mosquitto.ts';
import type { RunningBroker } from '../../../helpers/process.ts';
import { ADMIN_PASSWORD, batches } from './sequence.ts';

const SO = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
const quiet = { info: (): void => {}, warning: (): void => {}, error: (): void => {} };

function brokerConfig(): string[] {
  return [`plugin ${SO}`, 'plugin_opt_config_file {dir}/dynsec.json'];
}

async function connect(
  broker: RunningBroker,
  username?: string,
  password?: string,
  clientId?: string,
): Promise<MqttClient> {
  const client = mqtt.connect({
    host: broker.host,
    port: broker.port,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      resolve();
    });
    client.once('error', reject);
  });
  return client;
}

async function connectResult(
  broker: RunningBroker,
  username: string,
  password: string,
  clientId: string,
): Promise<'ok' | 'refused'> {
  try {
    const c = await connect(broker, username, password, clientId);
    await c.endAsync();
    return 'ok';
  } catch {
    return 'refused';
  }
}

/** Sends each batch and collects the response payloads, in order. */
async function sendAll(client: MqttClient, payloads: readonly string[]): Promise<string[]> {
  await client.subscribeAsync('$CONTROL/dynamic-security/v1/response');
  const out: string[] = [];
  for (const p of payloads) {
    const got = new Promise<string>((resolve) => {
      const timer = setTimeout(() => {
        client.removeAllListeners('message');
        resolve('<no response>');
      }, 2000);
      client.once('message', (_topic, message) => {
        clearTimeout(timer);
        resolve(message.toString());
      });
    });
    await client.publishAsync('$CONTROL/dynamic-security/v1', p);
    out.push(await got);
  }
  return out;
}

/** The SUBACK's code for one filter (MQTT.js rejects a refused one: 0x87). */
async function grantedQos(client: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos: 0 });
    return granted[0]?.qos ?? -1;
  } catch {
    return 0x87;
  }
}

describe(
  'dynamic security against Debian’s real plugin',
  mosquittoSkip(['mosquitto', 'mosquitto_ctrl']),
  () => {
    let dir = '';
    let initial = '';
    let real: RunningBroker | null = null;
    let realResponses: string[] = [];
    let realFile = '';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'dynsec-interop-'));
      execFileSync(requiredPath('mosquitto_ctrl'), [
        'dynsec',
        'init',
        join(dir, 'init.json'),
        'admin',
        ADMIN_PASSWORD,
      ]);
      initial = readFileSync(join(dir, 'init.json'), 'utf8');
      real = await startRealBroker({
        config: brokerConfig(),
        files: { 'dynsec.json': initial },
      });
      const admin = await connect(real, 'admin', ADMIN_PASSWORD);
      realResponses = await sendAll(admin, batches);
      await admin.endAsync();
      realFile = readFileSync(join(real.dir, 'dynsec.json'), 'utf8');
    });

    after(async () => {
      await real?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the same requests give the same response JSON', () => {
      const file = join(dir, 'ours.json');
      writeFileSync(file, initial);
      const ds = DynamicSecurity.open({ configFile: file }, quiet);
      const ours = batches.map((b) =>
        ds.handleControl('admin-id', 'admin', Buffer.from(b)).response.toString(),
      );
      for (let i = 0; i < batches.length; i++) {
        assert.equal(ours[i], realResponses[i], `batch ${i}: ${batches[i]}`);
      }
    });

    test('the file the real plugin wrote loads in ours with the same state and decisions', () => {
      const fromReal = join(dir, 'from-real.json');
      writeFileSync(fromReal, realFile);
      const loaded = DynamicSecurity.open({ configFile: fromReal }, quiet);
      const file = join(dir, 'ours2.json');
      writeFileSync(file, initial);
      const ours = DynamicSecurity.open({ configFile: file }, quiet);
      for (const b of batches) ours.handleControl('admin-id', 'admin', Buffer.from(b));
      const dump = JSON.stringify({
        commands: [
          { command: 'listClients', verbose: true },
          { command: 'listGroups', verbose: true },
          { command: 'listRoles', verbose: true },
          { command: 'getDefaultACLAccess' },
          { command: 'getAnonymousGroup' },
        ],
      });
      assert.equal(
        loaded.handleControl('a', 'admin', Buffer.from(dump)).response.toString(),
        ours.handleControl('a', 'admin', Buffer.from(dump)).response.toString(),
      );
      // The saved files agree too (same key order, same content but for salts and hashes).
      const strip = (t: string): unknown =>
        JSON.parse(t, (k, v: unknown) => (k === 'salt' || k === 'password' ? '<x>' : v));
      assert.deepEqual(strip(readFileSync(file, 'utf8')), strip(realFile));
      for (const user of [null, 'u1', 'u2', 'u4', 'admin', 'nobody']) {
        for (const access of [
          'publish-client-send',
          'publish-client-receive',
          'subscribe',
          'unsubscribe',
        ] as const) {
          for (const topic of [
            'a/b',
            'a/c',
            'x/y',
            'lit/+',
            's/t',
            '$CONTROL/dynamic-security/v1',
            'p/q',
          ]) {
            assert.equal(
              loaded.aclCheck('cid', user, access, topic),
              ours.aclCheck('cid', user, access, topic),
              `${user} ${access} ${topic}`,
            );
          }
        }
      }
    });

    test('the file ours writes loads in the real plugin with the same decisions', async () => {
      const file = join(dir, 'for-real.json');
      writeFileSync(file, initial);
      const ours = DynamicSecurity.open({ configFile: file }, quiet);
      const setup = {
        commands: [
          {
            command: 'createRole',
            rolename: 'sub',
            acls: [
              { acltype: 'subscribePattern', topic: 'ok/#', allow: true },
              { acltype: 'subscribePattern', topic: 'ok/no/#', allow: false, priority: 5 },
              { acltype: 'subscribeLiteral', topic: 'lit/+', allow: true },
              { acltype: 'publishClientSend', topic: 'pub/#', allow: true },
              { acltype: 'publishClientSend', topic: 'pub/no', allow: false, priority: 1 },
            ],
          },
          {
            command: 'createClient',
            username: 'alice',
            password: 'alice-pw',
            roles: [{ rolename: 'sub' }],
          },
          { command: 'createClient', username: 'bob', password: 'bob-pw', clientid: 'bob-id' },
          { command: 'createClient', username: 'carol', password: 'carol-pw' },
          { command: 'disableClient', username: 'carol' },
        ],
      };
      const reply = ours.handleControl('a', 'admin', Buffer.from(JSON.stringify(setup)));
      assert.doesNotMatch(reply.response.toString(), /"error"/);
      const broker = await startRealBroker({
        config: brokerConfig(),
        files: { 'dynsec.json': readFileSync(file, 'utf8') },
      });
      try {
        assert.equal(await connectResult(broker, 'alice', 'alice-pw', 'x1'), 'ok');
        assert.equal(await connectResult(broker, 'alice', 'wrong', 'x2'), 'refused');
        assert.equal(await connectResult(broker, 'bob', 'bob-pw', 'bob-id'), 'ok');
        assert.equal(await connectResult(broker, 'bob', 'bob-pw', 'other'), 'refused');
        assert.equal(await connectResult(broker, 'carol', 'carol-pw', 'x3'), 'refused');
        assert.equal(await connectResult(broker, 'admin', ADMIN_PASSWORD, 'x4'), 'ok');
        assert.equal(await ours.authenticate('x1', 'alice', Buffer.from('alice-pw')), 'allow');
        assert.equal(await ours.authenticate('x2', 'alice', Buffer.from('wrong')), 'deny');
        assert.equal(await ours.authenticate('other', 'bob', Buffer.from('bob-pw')), 'deny');
        assert.equal(await ours.authenticate('x3', 'carol', Buffer.from('carol-pw')), 'deny');
        const alice = await connect(broker, 'alice', 'alice-pw', 'alice-c');
        try {
          for (const filter of ['ok/a', 'ok/#', 'ok/no/x', 'lit/+', 'lit/a', 'other', '#']) {
            const real = (await grantedQos(alice, filter)) < 128 ? 'allow' : 'deny';
            const mine =
              ours.aclCheck('alice-c', 'alice', 'subscribe', filter) === 'allow' ? 'allow' : 'deny';
            assert.equal(mine, real, filter);
          }
        } finally {
          await alice.endAsync();
        }
      } finally {
        await broker.stop();
      }
    });
  },
);
