/**
 * The ACL file over real sockets (features §5.2): read checks per delivery (denied
 * deliveries silently skipped), write checks on publish (MQTT 5 PUBACK/PUBREC 0x87, 3.x
 * acknowledged and dropped), subscriptions never refused, retained messages checked on
 * subscribe (and their publisher with check_retain_source), wills checked when they go out,
 * `$SYS`, patterns, and CVE-2017-7650.
 *
 * A message that must not arrive is followed by one that must: when the second arrives,
 * the first would have arrived before it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { toHex } from '../../helpers/packet-bytes.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import type { MqttJsClient } from '../../helpers/broker.ts';
import { mqttConnect, waitFor } from '../../helpers/broker.ts';
import type { TestBroker } from '../../helpers/broker.ts';
import type { TempDir } from './fixtures.ts';
import { passwordEntry, startSecureBroker, tempDir } from './fixtures.ts';

const ACL = `# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret
topic write inbox/alice
topic read $SYS/#

user bob
topic readwrite bob/#
topic write shared/#
topic write public/#
topic write will/#

pattern readwrite clients/%c/#
pattern read users/%u/in
`;

interface Setup {
  readonly t: TestBroker;
  readonly dir: TempDir;
  readonly aclFile: string;
  connect(username: string | null, clientId: string, version?: 4 | 5): Promise<MqttJsClient>;
  close(): Promise<void>;
}

async function setup(acl = ACL, checkRetainSource = true): Promise<Setup> {
  const dir = tempDir('acl');
  const passwordFile = dir.write(
    'pw',
    ['alice', 'bob', '+', 'victim'].map((user) => passwordEntry(user, 'pw')).join('\n') + '\n',
  );
  const aclFile = dir.write('acl', acl);
  const t = await startSecureBroker({
    security: { passwordFile, aclFile, allowAnonymous: true },
    config: { checkRetainSource },
  });
  const clients: MqttJsClient[] = [];
  return {
    t,
    dir,
    aclFile,
    async connect(username, clientId, version = 5) {
      const client = await mqttConnect(t.url, {
        clientId,
        protocolVersion: version,
        ...(username === null ? {} : { username, password: 'pw' }),
      });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.client.end(true);
      await t.close();
      dir.remove();
    },
  };
}

function topics(client: MqttJsClient): string[] {
  return client.received.map((message) => `${message.topic}=${message.payload}`);
}

describe('read: per delivery', () => {
  test('a subscriber only gets what it may read; the subscription itself is granted', async () => {
    const s = await setup();
    try {
      const alice = await s.connect('alice', 'a');
      const granted = await alice.client.subscribeAsync('#', { qos: 1 });
      assert.deepEqual(
        granted.map((g) => g.qos),
        [1],
      );
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/news', '1', { qos: 1 });
      await bob.client.publishAsync('shared/secret', '2', { qos: 1 });
      await bob.client.publishAsync('bob/private', '3', { qos: 1 });
      await bob.client.publishAsync('public/x', '4', { qos: 1 });
      await bob.client.publishAsync('shared/end', '5', { qos: 1 });
      await alice.waitForMessages(2);
      assert.deepEqual(topics(alice), ['shared/news=1', 'shared/end=5']);
    } finally {
      await s.close();
    }
  });

  test('the anonymous section applies to clients without a username', async () => {
    const s = await setup();
    try {
      const anon = await s.connect(null, 'anon');
      await anon.client.subscribeAsync('#');
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/x', 'no');
      await bob.client.publishAsync('public/y', 'yes');
      await anon.waitForMessages(1);
      assert.deepEqual(topics(anon), ['public/y=yes']);
    } finally {
      await s.close();
    }
  });

  test('$SYS is only read through a $ entry; # never covers it', async () => {
    const s = await setup();
    try {
      const alice = await s.connect('alice', 'a');
      const anon = await s.connect(null, 'anon');
      await alice.client.subscribeAsync('$SYS/#');
      await anon.client.subscribeAsync(['$SYS/#', 'public/#']);
      s.t.broker.publishInternal('$SYS/broker/test', 'sys', 0, false);
      s.t.broker.publishInternal('public/after', 'after', 0, false);
      await alice.waitForMessages(1);
      await anon.waitForMessages(1);
      assert.deepEqual(topics(alice), ['$SYS/broker/test=sys']);
      assert.deepEqual(topics(anon), ['public/after=after']);
    } finally {
      await s.close();
    }
  });
});

describe('write: per publish', () => {
  test('MQTT 5: PUBACK and PUBREC 0x87 for a denied topic, nothing delivered', async () => {
    const s = await setup();
    try {
      const watcher = await s.connect('alice', 'watcher');
      await watcher.client.subscribeAsync('shared/#');
      const { client } = await s.t.rawConnect({
        version: 5,
        clientId: 'raw5',
        username: 'alice',
        password: 'pw',
      });
      client.send(wire.publish({ version: 5, topic: 'shared/x', qos: 1, packetId: 1 }));
      assert.equal(toHex(await client.expectPacket()), '40 03 00 01 87');
      client.send(wire.publish({ version: 5, topic: 'shared/x', qos: 2, packetId: 2 }));
      assert.equal(toHex(await client.expectPacket()), '50 03 00 02 87');
      client.send(wire.publish({ version: 5, topic: 'alice/ok', qos: 1, packetId: 3 }));
      assert.equal(toHex(await client.expectPacket()), '40 03 00 03 10');
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/after', 'x');
      await watcher.waitForMessages(1);
      assert.deepEqual(topics(watcher), ['shared/after=x']);
    } finally {
      await s.close();
    }
  });

  test('MQTT 3.1.1: acknowledged as usual, but dropped', async () => {
    const s = await setup();
    try {
      const watcher = await s.connect('alice', 'watcher');
      await watcher.client.subscribeAsync('shared/#');
      const { client } = await s.t.rawConnect({
        clientId: 'raw4',
        username: 'alice',
        password: 'pw',
      });
      client.send(wire.publish({ topic: 'shared/x', payload: 'denied', qos: 1, packetId: 1 }));
      assert.equal(toHex(await client.expectPacket()), '40 02 00 01');
      client.send(wire.publish({ topic: 'shared/y', payload: 'denied' }));
      client.send(wire.pingreq());
      assert.equal(toHex(await client.expectPacket()), 'd0 00');
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/after', 'x');
      await watcher.waitForMessages(1);
      assert.deepEqual(topics(watcher), ['shared/after=x']);
    } finally {
      await s.close();
    }
  });
});

describe('patterns', () => {
  test('%c and %u give each client its own topics', async () => {
    const s = await setup();
    try {
      const alice = await s.connect('alice', 'dev1');
      await alice.client.subscribeAsync(['clients/#', 'users/#']);
      const bob = await s.connect('bob', 'dev2');
      await bob.client.subscribeAsync('clients/#');
      await alice.client.publishAsync('clients/dev1/status', 'mine', { qos: 1 });
      await assert.rejects(
        alice.client.publishAsync('clients/dev2/status', 'not mine to write', { qos: 1 }),
      );
      await bob.client.publishAsync('clients/dev2/status', 'bob', { qos: 1 });
      s.t.broker.publishInternal('users/alice/in', 'for alice', 0, false);
      s.t.broker.publishInternal('users/bob/in', 'not for alice', 0, false);
      s.t.broker.publishInternal('clients/dev1/end', 'end', 0, false);
      await alice.waitForMessages(3);
      assert.deepEqual(topics(alice), [
        'clients/dev1/status=mine',
        'users/alice/in=for alice',
        'clients/dev1/end=end',
      ]);
      await bob.waitForMessages(1);
      assert.deepEqual(topics(bob), ['clients/dev2/status=bob']);
    } finally {
      await s.close();
    }
  });

  test('CVE-2017-7650: a client id or username with + or # matches no pattern', async () => {
    const s = await setup();
    try {
      const victim = await s.connect('victim', 'victim');
      await victim.client.subscribeAsync(['clients/victim/#', 'users/victim/#']);
      // As patterns, "clients/#/#" and "users/+/in" would cover everybody's topics.
      const byId = await s.connect('bob', '#');
      await byId.client.subscribeAsync('clients/#');
      const byName = await s.connect('+', 'plain');
      await byName.client.subscribeAsync('users/#');
      await assert.rejects(byId.client.publishAsync('clients/victim/cmd', 'injected', { qos: 1 }));
      await victim.client.publishAsync('clients/victim/cmd', 'own', { qos: 1 });
      s.t.broker.publishInternal('users/victim/in', 'secret', 0, false);
      await victim.waitForMessages(2);
      assert.deepEqual(topics(victim), ['clients/victim/cmd=own', 'users/victim/in=secret']);
      // A SUBACK after the deliveries they would have had: nothing came before it.
      await byId.client.subscribeAsync('sync');
      await byName.client.subscribeAsync('sync');
      assert.deepEqual(topics(byId), []);
      assert.deepEqual(topics(byName), []);
      const lines = s.t.log.messages();
      assert.ok(lines.includes('ACL denying access to client with dangerous client id "#"'));
      assert.ok(lines.includes('ACL denying access to client with dangerous username "+"'));
    } finally {
      await s.close();
    }
  });
});

describe('retained messages and wills', () => {
  test('retained messages are checked for read when they are sent on subscribe', async () => {
    const s = await setup();
    try {
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/secret', 'hidden', { retain: true, qos: 1 });
      await bob.client.publishAsync('shared/news', 'visible', { retain: true, qos: 1 });
      const alice = await s.connect('alice', 'a');
      await alice.client.subscribeAsync('shared/#');
      // Retained messages go out in the order they were stored: the first is skipped.
      await alice.waitForMessages(1);
      assert.deepEqual(topics(alice), ['shared/news=visible']);
    } finally {
      await s.close();
    }
  });

  test('check_retain_source: a publisher that lost write access no longer serves its retained message', async () => {
    for (const checkRetainSource of [true, false]) {
      const s = await setup(ACL, checkRetainSource);
      try {
        const bob = await s.connect('bob', 'b');
        await bob.client.publishAsync('shared/news', 'old', { retain: true, qos: 1 });
        writeFileSync(s.aclFile, ACL.replace('topic write shared/#\n', ''));
        s.t.broker.reload(s.t.broker.config);
        const alice = await s.connect('alice', 'a');
        await alice.client.subscribeAsync(['shared/#', 'alice/#']);
        await alice.client.publishAsync('alice/end', 'end');
        await alice.waitForMessages(checkRetainSource ? 1 : 2);
        assert.deepEqual(
          topics(alice),
          checkRetainSource ? ['alice/end=end'] : ['shared/news=old', 'alice/end=end'],
          `check_retain_source ${String(checkRetainSource)}`,
        );
      } finally {
        await s.close();
      }
    }
  });

  test('a will is checked for write when it is published', async () => {
    const s = await setup();
    try {
      const watcher = await s.connect('alice', 'watcher');
      await watcher.client.subscribeAsync(['alice/#', 'shared/#']);
      // alice may read both topics; bob may write only the second.
      for (const [clientId, topic] of [
        ['w1', 'alice/denied-will'],
        ['w2', 'shared/will'],
      ] as const) {
        const { client } = await s.t.rawConnect({
          clientId,
          username: 'bob',
          password: 'pw',
          will: { topic, payload: clientId },
        });
        client.destroy();
        await waitFor(() =>
          s.t.log.messages().includes(`Client ${clientId} closed its connection.`),
        );
      }
      await watcher.waitForMessages(1);
      assert.deepEqual(topics(watcher), ['shared/will=w2']);
    } finally {
      await s.close();
    }
  });
});
