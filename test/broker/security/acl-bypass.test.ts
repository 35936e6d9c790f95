/**
 * Ways around the ACL file that Mosquitto's CVE history names (features §7.2), over real
 * sockets: `+`/`#` in usernames and client ids used by `%u`/`%c` patterns
 * (CVE-2017-7650), shared subscriptions and `$SYS` reached through `$share`, retained
 * messages after read access is revoked by a reload, and messages queued or in flight to
 * a client whose read access a reload removed (dropped when it reconnects, as
 * handle_connect.c connection_check_acl does).
 *
 * A message that must not arrive is followed by one that must: when the second arrives,
 * the first would have arrived before it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { PacketType } from '../../../src/protocol/constants.ts';
import type { MqttJsClient, TestBroker } from '../../helpers/broker.ts';
import { decodeFromBroker, mqttConnect, settle } from '../../helpers/broker.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import { toHex } from '../../helpers/packet-bytes.ts';
import { RawClient } from '../../helpers/raw-client.ts';
import type { TempDir } from './fixtures.ts';
import { passwordEntry, startSecureBroker, tempDir } from './fixtures.ts';

const ACL = `user alice
topic read shared/#
topic deny shared/secret
topic readwrite alice/#

user bob
topic write shared/#
topic readwrite bob/#

pattern readwrite devices/%u/#
pattern readwrite clients/%c/#
`;

// (A username "#" cannot be in a password file: the line would be a comment.)
const USERS = ['alice', 'bob', 'victim', '+', 'dev+x', 'dev#x'];

interface Setup {
  readonly t: TestBroker;
  readonly dir: TempDir;
  readonly aclFile: string;
  connect(username: string, clientId: string, clean?: boolean): Promise<MqttJsClient>;
  /** Replaces the ACL file and reloads, as SIGHUP does. */
  reloadAcl(text: string): void;
  close(): Promise<void>;
}

async function setup(): Promise<Setup> {
  const dir = tempDir('acl-bypass');
  const passwordFile = dir.write('pw', USERS.map((u) => passwordEntry(u, 'pw')).join('\n') + '\n');
  const aclFile = dir.write('acl', ACL);
  const t = await startSecureBroker({ security: { passwordFile, aclFile } });
  const clients: MqttJsClient[] = [];
  return {
    t,
    dir,
    aclFile,
    async connect(username, clientId, clean = true) {
      const client = await mqttConnect(t.url, {
        clientId,
        username,
        password: 'pw',
        protocolVersion: 5,
        clean,
        ...(clean ? {} : { properties: { sessionExpiryInterval: 3600 } }),
      });
      clients.push(client);
      return client;
    },
    reloadAcl(text) {
      writeFileSync(aclFile, text);
      t.broker.reload(t.broker.config);
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

describe('wildcards in usernames and client ids (CVE-2017-7650)', () => {
  test('a username "+", "dev+x" or "dev#x" does not widen "pattern readwrite devices/%u/#"', async () => {
    const s = await setup();
    try {
      const victim = await s.connect('victim', 'v');
      await victim.client.subscribeAsync('devices/victim/#');
      const attackers = ['+', 'dev+x', 'dev#x'];
      for (const [index, username] of attackers.entries()) {
        const attacker = await s.connect(username, `attacker-${index}`);
        // As patterns these would be devices/+/#, devices/dev+x/# and devices/dev#x/#.
        await attacker.client.subscribeAsync('devices/#');
        await assert.rejects(
          attacker.client.publishAsync('devices/victim/cmd', 'injected', { qos: 1 }),
          /Not authorized/,
        );
        await victim.client.publishAsync('devices/victim/state', `seen by ${username}?`, {
          qos: 1,
        });
        await attacker.client.subscribeAsync('sync'); // a SUBACK after the delivery
        assert.deepEqual(topics(attacker), [], `username ${username} read the victim's topic`);
      }
      await victim.waitForMessages(3);
      assert.deepEqual(
        topics(victim),
        attackers.map((username) => `devices/victim/state=seen by ${username}?`),
      );
      const lines = s.t.log.messages();
      assert.ok(lines.includes('ACL denying access to client with dangerous username "+"'));
      assert.ok(lines.includes('ACL denying access to client with dangerous username "dev#x"'));
    } finally {
      await s.close();
    }
  });

  test('a client id "+" or "a#" does not widen "pattern readwrite clients/%c/#"', async () => {
    const s = await setup();
    try {
      const victim = await s.connect('victim', 'victim');
      await victim.client.subscribeAsync('clients/victim/#');
      for (const clientId of ['+', 'a#']) {
        const attacker = await s.connect('bob', clientId);
        await attacker.client.subscribeAsync('clients/#');
        await assert.rejects(
          attacker.client.publishAsync('clients/victim/cmd', 'x', { qos: 1 }),
          /Not authorized/,
        );
        await victim.client.publishAsync('clients/victim/state', clientId, { qos: 1 });
        await attacker.client.subscribeAsync('sync');
        assert.deepEqual(topics(attacker), [], `client id ${clientId} read the victim's topic`);
        attacker.client.end(true);
      }
      await victim.waitForMessages(2);
      assert.deepEqual(topics(victim), ['clients/victim/state=+', 'clients/victim/state=a#']);
    } finally {
      await s.close();
    }
  });
});

describe('$share and $SYS', () => {
  test('a shared subscription delivers only what the ACL lets the member read', async () => {
    const s = await setup();
    try {
      const alice = await s.connect('alice', 'a');
      // "$share/g/shared/#" and "$share/g/#": granted (acl_file never refuses SUBSCRIBE),
      // but every delivery is checked against the message's own topic.
      await alice.client.subscribeAsync(['$share/g/shared/#', '$share/h/#']);
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/secret', 'denied', { qos: 1 });
      await bob.client.publishAsync('bob/private', 'denied', { qos: 1 });
      await bob.client.publishAsync('shared/news', 'allowed', { qos: 1 });
      await alice.waitForMessages(2);
      await settle(50);
      // One copy per matching shared subscription (two groups).
      assert.deepEqual(topics(alice), ['shared/news=allowed', 'shared/news=allowed']);
    } finally {
      await s.close();
    }
  });

  test('$SYS through $share: # never covers it, a $ entry is still needed', async () => {
    const s = await setup();
    try {
      const alice = await s.connect('alice', 'a');
      await alice.client.subscribeAsync(['$share/g/#', '$share/g/$SYS/#', '$SYS/#']);
      s.t.broker.publishInternal('$SYS/fake/x', 'denied', 1, false);
      s.t.broker.publishInternal('$SYS/broker/uptime', 'denied', 0, false);
      s.reloadAcl(ACL.replace('user alice\n', 'user alice\ntopic read $SYS/fake/#\n'));
      s.t.broker.publishInternal('$SYS/fake/y', 'allowed', 1, false);
      await alice.waitForMessages(2);
      await settle(50);
      // Two of alice's three subscriptions match $SYS/fake/y: the shared one and $SYS/#.
      assert.deepEqual(topics(alice), ['$SYS/fake/y=allowed', '$SYS/fake/y=allowed']);
    } finally {
      await s.close();
    }
  });
});

describe('access revoked by a reload (SIGHUP)', () => {
  const WITHOUT_READ = ACL.replace('topic read shared/#\n', '');

  test('retained messages are no longer sent on subscribe', async () => {
    const s = await setup();
    try {
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/news', 'retained', { qos: 1, retain: true });
      const before = await s.connect('alice', 'a1');
      await before.client.subscribeAsync('shared/#');
      await before.waitForMessages(1);
      s.reloadAcl(WITHOUT_READ);
      const after = await s.connect('alice', 'a2');
      await after.client.subscribeAsync(['shared/#', 'alice/#']);
      await after.client.publishAsync('alice/end', 'end', { qos: 1 });
      await after.waitForMessages(1);
      assert.deepEqual(topics(after), ['alice/end=end']);
    } finally {
      await s.close();
    }
  });

  test('a connected subscriber stops receiving from the next message', async () => {
    const s = await setup();
    try {
      const alice = await s.connect('alice', 'a');
      await alice.client.subscribeAsync(['shared/#', 'alice/#']);
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/news', 'before', { qos: 1 });
      await alice.waitForMessages(1);
      s.reloadAcl(WITHOUT_READ);
      await bob.client.publishAsync('shared/news', 'after', { qos: 1 });
      await alice.client.publishAsync('alice/end', 'end', { qos: 1 });
      await alice.waitForMessages(2);
      assert.deepEqual(topics(alice), ['shared/news=before', 'alice/end=end']);
    } finally {
      await s.close();
    }
  });

  test('messages queued for an offline client are dropped when it comes back', async () => {
    const s = await setup();
    try {
      const alice = await s.connect('alice', 'durable', false);
      await alice.client.subscribeAsync(['shared/#', 'alice/#'], { qos: 1 });
      alice.client.end(true);
      await settle(50);
      const bob = await s.connect('bob', 'b');
      for (let i = 0; i < 3; i++) {
        await bob.client.publishAsync('shared/news', `queued ${i}`, { qos: 1 });
      }
      assert.equal(s.t.broker.sessions.get('durable')?.queue.length, 3);
      s.reloadAcl(WITHOUT_READ);
      const back = await s.connect('alice', 'durable', false);
      await back.client.publishAsync('alice/end', 'end', { qos: 1 });
      await back.waitForMessages(1);
      await settle(50);
      assert.deepEqual(topics(back), ['alice/end=end']);
    } finally {
      await s.close();
    }
  });

  test('a message in flight (unacknowledged) is not sent again after the reload', async () => {
    const s = await setup();
    try {
      const connect = wire.connect({
        clientId: 'inflight',
        cleanStart: false,
        username: 'alice',
        password: 'pw',
      });
      const first = await RawClient.open(s.t.port);
      first.send(connect);
      assert.equal(toHex(await first.expectPacket()), '20 02 00 00');
      first.send(wire.subscribe({ subscriptions: [{ filter: 'shared/#', options: 1 }] }));
      assert.equal(toHex(await first.expectPacket()), '90 03 00 01 01');
      const bob = await s.connect('bob', 'b');
      await bob.client.publishAsync('shared/news', 'in flight', { qos: 1 });
      const publish = decodeFromBroker(await first.expectPacket());
      assert.equal(publish.type, PacketType.Publish);
      first.destroy(); // no PUBACK
      await settle(50);
      assert.equal(s.t.broker.sessions.get('inflight')?.inflight.size, 1);

      s.reloadAcl(WITHOUT_READ);
      const second = await RawClient.open(s.t.port);
      second.send(connect);
      assert.equal(toHex(await second.expectPacket()), '20 02 01 00');
      second.send(wire.pingreq());
      // Without the reload the resent PUBLISH (DUP) would come before the PINGRESP.
      assert.equal(toHex(await second.expectPacket()), 'd0 00');
      assert.equal(s.t.broker.sessions.get('inflight')?.inflight.size, 0);
      second.destroy();
    } finally {
      await s.close();
    }
  });
});
