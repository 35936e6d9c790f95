/**
 * Reload (SIGHUP, features §0 and §3.14): password and ACL files are read again, connected
 * clients are checked again (anonymous ones when allow_anonymous became false, everyone's
 * username and password against the new file) and kicked quietly (no DISCONNECT, no will,
 * "Client <id> disconnected."), the new ACL applies from the next message on, and a file
 * that cannot be used keeps what was loaded before.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEvent, RawClient } from '../../helpers/raw-client.ts';
import { toHex } from '../../helpers/packet-bytes.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import { mqttConnect, settle, waitFor } from '../../helpers/broker.ts';
import { ourBroker } from '../../helpers/process.ts';
import { passwordEntry, startSecureBroker, tempDir } from './fixtures.ts';

/** Answers a PINGREQ: the connection is still up. */
async function alive(client: RawClient): Promise<boolean> {
  client.send(wire.pingreq());
  const event = await client.next();
  return describeEvent(event) === 'd0 00';
}

/** The next thing on the connection is its end, with no packet first. */
async function closedQuietly(client: RawClient): Promise<void> {
  assert.equal(describeEvent(await client.next()), 'closed');
}

describe('reload: connected clients are checked again', () => {
  test('a user removed from the password file is kicked, without its will', async () => {
    const dir = tempDir('reload');
    const bob = passwordEntry('bob', 'b');
    const passwordFile = dir.write('pw', `${passwordEntry('alice', 'a')}\n${bob}\n`);
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const watcher = (
        await t.rawConnect({ version: 5, clientId: 'watcher', username: 'bob', password: 'b' })
      ).client;
      watcher.send(wire.subscribe({ version: 5, subscriptions: ['wills/#'] }));
      assert.equal(toHex(await watcher.expectPacket()), '90 04 00 01 00 00');
      const alice = (
        await t.rawConnect({
          version: 5,
          clientId: 'alice-1',
          username: 'alice',
          password: 'a',
          will: { topic: 'wills/alice', payload: 'gone' },
        })
      ).client;
      writeFileSync(passwordFile, `${bob}\n`);
      t.broker.reload(t.broker.config);
      await closedQuietly(alice);
      assert.ok(await alive(watcher));
      await settle();
      assert.ok(t.log.messages().includes('Client alice-1 disconnected.'));
      // Only the PINGRESP came: no will.
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('allow_anonymous turned off: clients without a username go, others stay', async () => {
    const dir = tempDir('reload');
    const passwordFile = dir.write('pw', `${passwordEntry('alice', 'a')}\n`);
    const t = await startSecureBroker({ security: { passwordFile, allowAnonymous: true } });
    try {
      const anonymous = (await t.rawConnect({ clientId: 'anon' })).client;
      const alice = (await t.rawConnect({ clientId: 'al', username: 'alice', password: 'a' }))
        .client;
      const config = t.broker.config;
      t.broker.reload({ ...config, security: { ...config.security, allowAnonymous: false } });
      await closedQuietly(anonymous);
      assert.ok(await alive(alice));
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('a changed password is checked again: the old one fails, the same one passes', async () => {
    const dir = tempDir('reload');
    const passwordFile = dir.write(
      'pw',
      `${passwordEntry('alice', 'a')}\n${passwordEntry('bob', 'b')}\n`,
    );
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const alice = (await t.rawConnect({ clientId: 'al', username: 'alice', password: 'a' }))
        .client;
      const bob = (await t.rawConnect({ clientId: 'bo', username: 'bob', password: 'b' })).client;
      // New salts for both; only bob keeps his password.
      writeFileSync(
        passwordFile,
        `${passwordEntry('alice', 'new')}\n${passwordEntry('bob', 'b')}\n`,
      );
      t.broker.reload(t.broker.config);
      await closedQuietly(alice);
      await settle(50);
      assert.ok(await alive(bob));
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('an ACL change applies to connected clients from the next message', async () => {
    const dir = tempDir('reload');
    const passwordFile = dir.write('pw', `${passwordEntry('alice', 'a')}\n`);
    const aclFile = dir.write('acl', 'user alice\ntopic readwrite a/#\n');
    const t = await startSecureBroker({ security: { passwordFile, aclFile } });
    try {
      const alice = await mqttConnect(t.url, { username: 'alice', password: 'a' });
      await alice.client.subscribeAsync(['a/#', 'b/#']);
      await alice.client.publishAsync('b/x', 'before', { qos: 1 });
      writeFileSync(aclFile, 'user alice\ntopic readwrite a/#\ntopic readwrite b/#\n');
      t.broker.reload(t.broker.config);
      await alice.client.publishAsync('b/x', 'after', { qos: 1 });
      await alice.waitForMessages(1);
      assert.deepEqual(
        alice.received.map((m) => m.payload),
        ['after'],
      );
      await alice.end();
    } finally {
      await t.close();
      dir.remove();
    }
  });
});

describe('reload: a file that cannot be used keeps the running configuration', () => {
  test('a password file that disappeared: users and clients stay, and the log says why', async () => {
    const dir = tempDir('reload');
    const passwordFile = dir.write('pw', `${passwordEntry('alice', 'a')}\n`);
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const alice = (await t.rawConnect({ clientId: 'al', username: 'alice', password: 'a' }))
        .client;
      rmSync(passwordFile);
      t.broker.reload(t.broker.config);
      assert.ok(await alive(alice));
      const again = await t.rawConnect({ clientId: 'al2', username: 'alice', password: 'a' });
      assert.equal(toHex(again.connack), '20 02 00 00');
      const lines = t.log.messages();
      for (const line of [
        `Error: Unable to open pwfile "${passwordFile}".`,
        `Error opening password file "${passwordFile}".`,
        `Warning: Unable to reload password file "${passwordFile}", keeping the users loaded before.`,
      ]) {
        assert.ok(lines.includes(line), line);
      }
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('an ACL file with an invalid line: the old rules stay', async () => {
    const dir = tempDir('reload');
    const aclFile = dir.write('acl', 'topic read open/#\n');
    const t = await startSecureBroker({ security: { aclFile, allowAnonymous: true } });
    try {
      const client = await mqttConnect(t.url, { clientId: 'c' });
      await client.client.subscribeAsync('#');
      writeFileSync(aclFile, 'topic read #\nbogus\n');
      t.broker.reload(t.broker.config);
      t.broker.publishInternal('closed/x', 'no', 0, false);
      t.broker.publishInternal('open/x', 'yes', 0, false);
      await client.waitForMessages(1);
      assert.deepEqual(
        client.received.map((m) => m.topic),
        ['open/x'],
      );
      assert.ok(
        t.log
          .messages()
          .includes(
            `Warning: Unable to reload acl_file "${aclFile}", keeping the rules loaded before.`,
          ),
      );
      assert.ok(t.log.messages().includes(`Error: Invalid line in acl_file "${aclFile}": bogus.`));
      await client.end();
    } finally {
      await t.close();
      dir.remove();
    }
  });
});

describe('SIGHUP to the broker process', () => {
  test('a client whose user was removed is kicked; the others stay', async () => {
    const broker = await ourBroker.start({
      allowAnonymous: false,
      config: ['password_file {dir}/pw'],
      files: { pw: `${passwordEntry('alice', 'a')}\n${passwordEntry('bob', 'b')}\n` },
    });
    try {
      const alice = await RawClient.open(broker.port);
      alice.send(wire.connect({ version: 5, clientId: 'al', username: 'alice', password: 'a' }));
      assert.equal(toHex(await alice.expectPacket()), '20 09 00 00 06 22 00 0a 21 00 14');
      const bob = await RawClient.open(broker.port);
      bob.send(wire.connect({ clientId: 'bo', username: 'bob', password: 'b' }));
      assert.equal(toHex(await bob.expectPacket()), '20 02 00 00');
      writeFileSync(join(broker.dir, 'pw'), `${passwordEntry('bob', 'b')}\n`);
      broker.signal('SIGHUP');
      await closedQuietly(alice);
      assert.ok(await alive(bob));
      await waitFor(() => broker.output().includes('Client al disconnected.'));
      assert.match(broker.output(), /Reloading config\./);
      alice.destroy();
      bob.destroy();
    } finally {
      await broker.stop();
    }
  });
});
