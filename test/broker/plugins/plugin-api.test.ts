/**
 * The plugin API with example plugins written to disk as ES modules and loaded by their
 * `plugin` line, as a user's would be: authentication (sync, async, throwing, too slow),
 * ACL checks on publish, delivery and subscribe, a message rewritten or refused on its
 * way in, a `$CONTROL` endpoint answering, connect and disconnect events; C plugins are a
 * configuration error; Mosquitto 2.1's password-file and acl-file plugins by name.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPasswordHash, hashPassword } from '../../../src/common/password.ts';
import { parseConfigText } from '../../../src/broker/config/parse.ts';
import { definePlugin, startBroker } from '../../../src/index.ts';
import { ConfigError } from '../../../src/broker/config/errors.ts';
import { defaultSecurity } from '../../../src/broker/config/types.ts';
import type { PluginConfig } from '../../../src/broker/config/types.ts';
import type { TestBroker } from '../../helpers/broker.ts';
import { frame, properties } from '../../helpers/packet-bytes.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import { mqttConnect, startTestBroker, waitFor } from '../../helpers/broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-plugins-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
function pluginFile(source: string): string {
  const path = join(dir, `plugin-${++fileCount}.mjs`);
  writeFileSync(path, source);
  return path;
}

const brokers: TestBroker[] = [];
after(async () => {
  for (const b of brokers) await b.close();
});

async function brokerWith(
  plugins: readonly PluginConfig[],
  options: { manualClock?: boolean; allowAnonymous?: boolean } = {},
): Promise<TestBroker> {
  const b = await startTestBroker({
    config: { security: { ...defaultSecurity(options.allowAnonymous ?? false), plugins } },
    ...(options.manualClock === true ? { manualClock: true } : {}),
  });
  brokers.push(b);
  return b;
}

function plugin(path: string, options: Record<string, string> = {}): PluginConfig {
  return { path, options: Object.entries(options), denySpecialChars: true };
}

async function refused(url: string, username?: string, password?: string): Promise<boolean> {
  try {
    const c = await mqttConnect(url, {
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      protocolVersion: 5,
    });
    await c.end();
    return false;
  } catch {
    return true;
  }
}

describe('plugin API: authentication', () => {
  test('a sync and an async plugin in order; the first decision wins, defer passes on', async () => {
    const first = pluginFile(`export default {
      name: 'first',
      init: (ctx) => ({
        basicAuth: ({ username }) => (username === ctx.options.get('denied') ? 'deny' : 'defer'),
      }),
    };`);
    const second = pluginFile(`export default {
      name: 'second',
      init: () => ({
        basicAuth: async ({ username, password }) => {
          await new Promise((r) => setTimeout(r, 5));
          return username === 'alice' && password?.toString() === 'pw' ? 'allow' : 'defer';
        },
      }),
    };`);
    const b = await brokerWith([plugin(first, { denied: 'mallory' }), plugin(second)]);
    assert.equal(await refused(b.url, 'alice', 'pw'), false);
    assert.equal(await refused(b.url, 'alice', 'wrong'), true, 'all deferred with a username');
    assert.equal(await refused(b.url, 'mallory', 'pw'), true);
    assert.equal(await refused(b.url), true, 'anonymous, allow_anonymous false');
  });

  test('all deferred: a client without username is let in when allow_anonymous', async () => {
    const path = pluginFile(
      `export default { name: 'd', init: () => ({ basicAuth: () => 'defer' }) };`,
    );
    const b = await brokerWith([plugin(path)], { allowAnonymous: true });
    assert.equal(await refused(b.url), false);
    assert.equal(await refused(b.url, 'bob', 'x'), true);
  });

  test('a throwing, a misbehaving and a silent plugin deny, and the broker goes on', async () => {
    const path = pluginFile(`export default {
      name: 'faulty',
      init: () => ({
        basicAuth: ({ username }) => {
          if (username === 'boom') throw new Error('boom');
          if (username === 'odd') return 42;
          if (username === 'slow') return new Promise(() => {});
          return 'allow';
        },
      }),
    };`);
    const b = await brokerWith([plugin(path)], { manualClock: true });
    assert.equal(await refused(b.url, 'boom', 'x'), true);
    assert.equal(await refused(b.url, 'odd', 'x'), true);
    const slow = refused(b.url, 'slow', 'x');
    await new Promise((r) => setTimeout(r, 50));
    b.clock.advance(10_000);
    assert.equal(await slow, true);
    assert.equal(await refused(b.url, 'fine', 'x'), false);
    const lines = b.log.lines.map((l) => l.message);
    assert.ok(lines.some((l) => l.includes('Plugin faulty: basic auth failed: boom; denied.')));
    assert.ok(lines.some((l) => l.includes('did not answer in time')));
  });
});

describe('plugin API: ACL checks, messages and control topics', () => {
  const source = pluginFile(`export default {
    name: 'policy',
    init: (ctx) => ({
      basicAuth: () => 'allow',
      aclCheck: ({ access, topic, client }) => {
        if (topic.startsWith('secret/') && client.username !== 'admin' && access !== 'subscribe') return 'deny';
        if (access === 'subscribe' && topic === 'nosub/#') return 'deny';
        return 'allow';
      },
      messageIn: ({ message }) => {
        if (message.topic === 'drop/me') return 'deny';
        if (message.topic === 'shout') return { payload: Buffer.from(message.payload.toString().toUpperCase()) };
        return undefined;
      },
      control: {
        'example/v1': (e) => e.respond(JSON.stringify({ from: e.client.clientId, got: e.payload.toString() })),
      },
    }),
  };`);

  test('publish, delivery and subscribe are checked; refusals carry 0x87', async () => {
    const b = await brokerWith([plugin(source)]);
    const admin = await mqttConnect(b.url, { username: 'admin', protocolVersion: 5 });
    const user = await mqttConnect(b.url, { username: 'user', protocolVersion: 5 });
    // SUBACK 0x87, which MQTT.js reports as an error.
    await assert.rejects(user.client.subscribeAsync('nosub/#', { qos: 1 }), /Not authorized/);
    await user.client.subscribeAsync('secret/#', { qos: 1 });
    await admin.client.subscribeAsync('secret/#', { qos: 1 });
    // The user may not publish there (PUBACK 0x87)...
    await assert.rejects(user.client.publishAsync('secret/a', 'x', { qos: 1 }));
    // ...nor receive what admin publishes; admin receives it.
    await admin.client.publishAsync('secret/b', 'y', { qos: 1 });
    await admin.waitForMessages(1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(user.received, []);
    await admin.end();
    await user.end();
  });

  test('message-in rewrites or refuses a message', async () => {
    const b = await brokerWith([plugin(source)]);
    const c = await mqttConnect(b.url, { username: 'admin', protocolVersion: 5 });
    await c.client.subscribeAsync(['shout', 'drop/me'], { qos: 1 });
    await assert.rejects(c.client.publishAsync('drop/me', 'x', { qos: 1 }));
    await c.client.publishAsync('shout', 'hello', { qos: 1 });
    const [got] = await c.waitForMessages(1);
    assert.ok(got);
    assert.equal(got.topic, 'shout');
    assert.equal(got.payload, 'HELLO');
    await c.end();
  });

  test('a $CONTROL endpoint answers on <topic>/response', async () => {
    const b = await brokerWith([plugin(source)]);
    const c = await mqttConnect(b.url, { username: 'admin', clientId: 'ctl', protocolVersion: 5 });
    await c.client.subscribeAsync('$CONTROL/example/v1/response');
    await c.client.publishAsync('$CONTROL/example/v1', 'ping', { qos: 1 });
    const [answer] = await c.waitForMessages(1);
    assert.deepEqual(JSON.parse(answer?.payload ?? ''), { from: 'ctl', got: 'ping' });
    await c.end();
  });

  test('a $CONTROL request is acknowledged before its response goes out', async () => {
    const b = await brokerWith([plugin(source)]);
    const { client } = await b.rawConnect({ clientId: 'ctl-raw', username: 'admin' });
    client.send(wire.subscribe({ packetId: 1, subscriptions: ['$CONTROL/example/v1/response'] }));
    await client.expectPacket();
    client.send(
      wire.publish({ topic: '$CONTROL/example/v1', payload: 'ping', qos: 1, packetId: 7 }),
    );
    const first = await client.expectPacket();
    const second = await client.expectPacket();
    assert.equal(wire.toHex(first), '40 02 00 07', 'PUBACK first');
    assert.equal(second[0], 0x30, 'then the response');
  });

  test('connect and disconnect events; kick disconnects by username', async () => {
    const path = pluginFile(`
      export const seen = [];
      export default {
        name: 'watcher',
        init: (ctx) => ({
          basicAuth: () => 'allow',
          connect: ({ client }) => { if (client.username === 'kickme') ctx.kick({ username: 'kickme' }); },
          disconnect: ({ client, reason }) => ctx.publish('events/gone', client.clientId + ': ' + reason, 0, false),
        }),
      };`);
    const b = await brokerWith([plugin(path)]);
    const watcher = await mqttConnect(b.url, { username: 'w', protocolVersion: 5 });
    await watcher.client.subscribeAsync('events/gone');
    const victim = await mqttConnect(b.url, {
      username: 'kickme',
      clientId: 'victim',
      protocolVersion: 5,
    }).catch(() => null);
    await watcher.waitForMessages(1);
    assert.match(
      watcher.received[0]?.payload ?? '',
      /^victim: Client victim been disconnected by administrative action\.$/,
    );
    await victim?.end().catch(() => undefined);
    await watcher.end();
  });
});

describe('plugin lines', () => {
  function configError(text: string): string {
    try {
      parseConfigText(text, 'p.conf');
    } catch (error) {
      if (error instanceof ConfigError) return error.messages.map((m) => m.text).join('\n');
      throw error;
    }
    return '';
  }

  test('a C plugin is a configuration error that names the alternative', () => {
    const text = configError('plugin /usr/lib/mosquitto_auth_by_ip.so\n');
    assert.match(text, /cannot load C plugins/);
    assert.match(text, /definePlugin/);
    assert.match(text, /Error found at p\.conf:1\./);
  });

  test("Mosquitto's bundled plugins are accepted by name in any directory", () => {
    for (const name of [
      'mosquitto_dynamic_security.so',
      'mosquitto_password_file.so',
      'mosquitto_acl_file.so',
    ]) {
      assert.equal(configError(`listener 1883\nplugin /nowhere/${name}\n`), '');
    }
  });

  test("2.1's password-file and acl-file plugins", async () => {
    const passwords = join(dir, 'pw');
    writeFileSync(passwords, `alice:${formatPasswordHash(hashPassword('secret'))}\n`);
    const acl = join(dir, 'acl');
    writeFileSync(acl, 'user alice\ntopic readwrite a/#\n');
    const b = await brokerWith([
      plugin('/x/mosquitto_password_file.so', { password_file: passwords }),
      plugin('/x/mosquitto_acl_file.so', { acl_file: acl }),
    ]);
    assert.equal(await refused(b.url, 'alice', 'secret'), false);
    assert.equal(await refused(b.url, 'alice', 'wrong'), true);
    const c = await mqttConnect(b.url, {
      username: 'alice',
      password: 'secret',
      protocolVersion: 5,
    });
    await c.client.subscribeAsync(['a/#', 'b/#'], { qos: 1 });
    await c.client.publishAsync('a/1', 'ok', { qos: 1 });
    await assert.rejects(c.client.publishAsync('b/1', 'no', { qos: 1 }));
    await waitFor(() => c.received.length === 1);
    assert.equal(c.received[0]?.topic, 'a/1');
    await c.end();
  });

  test("2.1's sparkplug-aware plugin keeps birth certificates, retained", async () => {
    const b = await brokerWith([plugin('/x/mosquitto_sparkplug_aware.so')], {
      allowAnonymous: true,
    });
    const node = await mqttConnect(b.url, { protocolVersion: 5 });
    await node.client.publishAsync('spBv1.0/g1/NBIRTH/n1', 'birth', { qos: 1 });
    await node.client.publishAsync('spBv1.0/g1/NDATA/n1', 'data', { qos: 1 });
    const host = await mqttConnect(b.url, { protocolVersion: 5 });
    await host.client.subscribeAsync('$sparkplug/certificates/#');
    const [certificate] = await host.waitForMessages(1);
    assert.ok(certificate);
    assert.equal(certificate.topic, '$sparkplug/certificates/spBv1.0/g1/NBIRTH/n1');
    assert.equal(certificate.payload, 'birth');
    assert.equal(certificate.packet.retain, true);
    await node.end();
    await host.end();
  });

  test('the embedded broker takes definePlugin() results directly', async () => {
    const broker = await startBroker({
      config: { sysInterval: 0 },
      plugins: [
        {
          definition: definePlugin({
            name: 'embedded',
            init: (context) => ({
              basicAuth: ({ username }) =>
                username === context.options.get('refuse') ? 'deny' : 'allow',
            }),
          }),
          options: { refuse: 'bob' },
        },
      ],
    });
    try {
      const url = `mqtt://127.0.0.1:${broker.ports[0] ?? 0}`;
      assert.equal(await refused(url, 'bob', 'x'), true);
      assert.equal(await refused(url, 'alice', 'x'), false);
    } finally {
      await broker.close();
    }
  });

  test("message-out refuses or changes one client's copy only", async () => {
    const path = pluginFile(`export default {
      name: 'per-client',
      init: () => ({
        basicAuth: () => 'allow',
        messageOut: ({ client, message }) => {
          if (client.clientId === 'quiet') return 'deny';
          if (client.clientId === 'loud') return { payload: Buffer.from(message.payload.toString().toUpperCase()) };
          return undefined;
        },
      }),
    };`);
    const b = await brokerWith([plugin(path)]);
    const clients = await Promise.all(
      ['quiet', 'loud', 'plain'].map((clientId) =>
        mqttConnect(b.url, { clientId, username: clientId, protocolVersion: 5 }),
      ),
    );
    for (const c of clients) await c.client.subscribeAsync('t', { qos: 1 });
    const [quiet, loud, plain] = clients;
    assert.ok(quiet && loud && plain);
    await plain.client.publishAsync('t', 'hi', { qos: 1 });
    await loud.waitForMessages(1);
    await plain.waitForMessages(1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(loud.received[0]?.payload, 'HI');
    assert.equal(plain.received[0]?.payload, 'hi');
    assert.deepEqual(quiet.received, []);
    for (const c of clients) await c.end();
  });

  test('MQTT 5 enhanced authentication: AUTH exchanges, then CONNACK with the method', async () => {
    const path = pluginFile(`export default {
      name: 'toy-auth',
      init: () => ({
        extendedAuthStart: ({ method, data }) =>
          method === 'toy' && data?.toString() === 'hello'
            ? { result: 'continue', data: Buffer.from('challenge') }
            : { result: method === 'toy' ? 'deny' : 'defer' },
        extendedAuthContinue: ({ data }) =>
          data?.toString() === 'answer'
            ? { result: 'allow', data: Buffer.from('welcome') }
            : { result: 'deny' },
      }),
    };`);
    const b = await brokerWith([plugin(path)]);
    const authProps = (data: string) => [
      { id: 0x15, value: 'toy' },
      { id: 0x16, value: Buffer.from(data) },
    ];
    // Good exchange.
    const { client, connack: first } = await b.rawConnect({
      version: 5,
      clientId: 'toy',
      properties: authProps('hello'),
    });
    assert.equal(first[0], 0xf0, 'AUTH first');
    assert.equal(first[2], 0x18, 'continue authentication');
    assert.ok(first.includes(Buffer.from('challenge')));
    client.send(frame(0xf0, Buffer.from([0x18]), properties(authProps('answer'))));
    const connack = await client.expectPacket();
    assert.equal(connack[0], 0x20);
    assert.equal(connack[3], 0, 'CONNACK success');
    assert.ok(connack.includes(Buffer.from('welcome')));
    // A wrong answer: CONNACK 0x87.
    const second = await b.rawConnect({
      version: 5,
      clientId: 'toy2',
      properties: authProps('hello'),
    });
    second.client.send(frame(0xf0, Buffer.from([0x18]), properties(authProps('wrong'))));
    const refusal = await second.client.expectPacket();
    assert.equal(refusal[0], 0x20);
    assert.equal(refusal[3], 0x87);
    // A method no plugin knows: CONNACK 0x8C as before.
    const third = await b.rawConnect({
      version: 5,
      clientId: 'toy3',
      properties: [{ id: 0x15, value: 'other' }],
    });
    assert.equal(third.connack[0], 0x20);
    assert.equal(third.connack[3], 0x8c);
  });

  test('subscribe, unsubscribe and client-offline events', async () => {
    const path = pluginFile(`export default {
      name: 'audit',
      init: (ctx) => ({
        basicAuth: () => 'allow',
        subscribe: ({ client, topic, qos }) => ctx.publish('audit', 'sub ' + client.clientId + ' ' + topic + ' ' + qos, 0, false),
        unsubscribe: ({ client, topic }) => ctx.publish('audit', 'unsub ' + client.clientId + ' ' + topic, 0, false),
        clientOffline: ({ client }) => ctx.publish('audit', 'offline ' + client.clientId, 0, false),
      }),
    };`);
    const b = await brokerWith([plugin(path)]);
    const auditor = await mqttConnect(b.url, {
      clientId: 'auditor',
      username: 'a',
      protocolVersion: 5,
    });
    await auditor.client.subscribeAsync('audit');
    const durable = await mqttConnect(b.url, {
      clientId: 'durable',
      username: 'd',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await durable.client.subscribeAsync('x/#', { qos: 1 });
    await durable.client.unsubscribeAsync('x/#');
    await durable.end();
    await waitFor(() => auditor.received.length >= 4);
    // (The auditor's own subscription is in place when its event is published.)
    assert.deepEqual(
      auditor.received.map((m) => m.payload),
      ['sub auditor audit 0', 'sub durable x/# 1', 'unsub durable x/#', 'offline durable'],
    );
    await auditor.end();
  });
});
