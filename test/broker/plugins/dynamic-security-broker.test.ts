/**
 * Dynamic security in the running broker, selected by the file name of Mosquitto's plugin:
 * the configuration generated from password_init_file (2.1), the admin managing clients
 * and roles over `$CONTROL/dynamic-security/v1`, the new client's logins and ACL
 * decisions, a client kicked when its roles change, and a corrupt file refused at start.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSecurity } from '../../../src/broker/config/types.ts';
import { PluginError } from '../../../src/broker/plugins/host.ts';
import type { MqttJsClient, TestBroker } from '../../helpers/broker.ts';
import { mqttConnect, startTestBroker, waitFor } from '../../helpers/broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-dynsec-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const brokers: TestBroker[] = [];
after(async () => {
  for (const b of brokers) await b.close();
});

async function dynsecBroker(configFile: string, passwordInitFile?: string): Promise<TestBroker> {
  const b = await startTestBroker({
    config: {
      security: {
        ...defaultSecurity(false),
        plugins: [
          {
            path: '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
            options: [
              ['config_file', configFile],
              ...(passwordInitFile === undefined
                ? []
                : [['password_init_file', passwordInitFile] as const]),
            ],
            denySpecialChars: true,
          },
        ],
      },
    },
  });
  brokers.push(b);
  return b;
}

/** Sends one command batch and returns its responses. */
async function command(
  admin: MqttJsClient,
  commands: object[],
): Promise<Record<string, unknown>[]> {
  const before = admin.received.length;
  await admin.client.publishAsync('$CONTROL/dynamic-security/v1', JSON.stringify({ commands }));
  await admin.waitForMessages(before + 1);
  const answer = admin.received[before];
  assert.ok(answer);
  return (JSON.parse(answer.payload) as { responses: Record<string, unknown>[] }).responses;
}

describe('dynamic security in the broker', () => {
  test('admin creates a client and a role; its logins and ACLs follow; a role change kicks it', async () => {
    const configFile = join(dir, 'dynsec.json');
    const initFile = join(dir, 'admin.pw');
    writeFileSync(initFile, 'admin-password-1\n');
    const b = await dynsecBroker(configFile, initFile);
    const admin = await mqttConnect(b.url, {
      username: 'admin',
      password: 'admin-password-1',
      protocolVersion: 5,
    });
    await admin.client.subscribeAsync('$CONTROL/dynamic-security/v1/response');
    const responses = await command(admin, [
      { command: 'createRole', rolename: 'sensors' },
      {
        command: 'addRoleACL',
        rolename: 'sensors',
        acltype: 'publishClientSend',
        topic: 'sensors/#',
        allow: true,
      },
      {
        command: 'addRoleACL',
        rolename: 'sensors',
        acltype: 'subscribePattern',
        topic: 'sensors/#',
        allow: true,
      },
      {
        command: 'addRoleACL',
        rolename: 'sensors',
        acltype: 'publishClientReceive',
        topic: 'sensors/#',
        allow: true,
      },
      {
        command: 'createClient',
        username: 'dev1',
        password: 'secret',
        roles: [{ rolename: 'sensors' }],
      },
    ]);
    assert.deepEqual(
      responses.map((r) => r.error),
      [undefined, undefined, undefined, undefined, undefined],
      JSON.stringify(responses),
    );
    await assert.rejects(
      mqttConnect(b.url, { username: 'dev1', password: 'wrong', protocolVersion: 5 }),
    );
    const dev = await mqttConnect(b.url, {
      username: 'dev1',
      password: 'secret',
      clientId: 'dev1',
      protocolVersion: 5,
    });
    await dev.client.subscribeAsync('sensors/#', { qos: 1 });
    await assert.rejects(dev.client.subscribeAsync('other/#', { qos: 1 }), /Not authorized/);
    await dev.client.publishAsync('sensors/t', '21', { qos: 1 });
    await assert.rejects(dev.client.publishAsync('other/t', 'x', { qos: 1 }));
    await dev.waitForMessages(1);
    assert.equal(dev.received[0]?.topic, 'sensors/t');
    // Taking the role away disconnects the client (its access changed).
    let closed = false;
    dev.client.on('close', () => {
      closed = true;
    });
    await command(admin, [{ command: 'removeClientRole', username: 'dev1', rolename: 'sensors' }]);
    await waitFor(() => closed);
    await admin.end();
  });

  test('a corrupt configuration stops the start, naming the file', async () => {
    const configFile = join(dir, 'corrupt.json');
    writeFileSync(configFile, '{ "clients": [ ');
    await assert.rejects(dynsecBroker(configFile), (error: unknown) => {
      assert.ok(error instanceof PluginError);
      assert.match(error.message, /corrupt\.json/);
      return true;
    });
  });
});
