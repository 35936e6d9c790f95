/**
 * Authentication over real sockets (features §3.3): the password file, allow_anonymous,
 * the CONNACK codes of 3.1.1 and 5, and the password check running off the event loop
 * (other clients are served meanwhile; packets after the CONNECT wait; a client that goes
 * away during the check is simply forgotten; a reload during the check is honoured).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { HashType, parsePasswordHash, verifyPassword } from '../../../src/common/password.ts';
import { toHex } from '../../helpers/packet-bytes.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import { RawClient } from '../../helpers/raw-client.ts';
import { mqttConnect, settle, waitFor } from '../../helpers/broker.ts';
import { passwordEntry, startSecureBroker, tempDir } from './fixtures.ts';

/** Iterations that make one check take a few hundred milliseconds. */
const SLOW_ITERATIONS = 300_000;

describe('password file', () => {
  test('good password in; wrong password, unknown user, missing password: 5 / 0x87', async () => {
    const dir = tempDir();
    const passwordFile = dir.write(
      'pw',
      `${passwordEntry('alice', 'secret')}\n${passwordEntry('six', 'legacy', HashType.Sha512)}\n`,
    );
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const connack = async (options: wire.ConnectOptions): Promise<string> =>
        toHex((await t.rawConnect(options)).connack);
      assert.equal(
        await connack({ clientId: 'a1', username: 'alice', password: 'secret' }),
        '20 02 00 00',
      );
      assert.equal(
        await connack({ version: 5, clientId: 'a2', username: 'alice', password: 'secret' }),
        '20 09 00 00 06 22 00 0a 21 00 14',
      );
      assert.equal(
        await connack({ clientId: 's', username: 'six', password: 'legacy' }),
        '20 02 00 00',
      );
      assert.equal(
        await connack({ clientId: 'w1', username: 'alice', password: 'nope' }),
        '20 02 00 05',
      );
      assert.equal(
        await connack({ version: 5, clientId: 'w2', username: 'alice', password: 'nope' }),
        '20 03 00 87 00',
      );
      assert.equal(
        await connack({ clientId: 'u1', username: 'bob', password: 'secret' }),
        '20 02 00 05',
      );
      assert.equal(
        await connack({ version: 5, clientId: 'u2', username: 'bob', password: 'secret' }),
        '20 03 00 87 00',
      );
      assert.equal(await connack({ clientId: 'n1', username: 'alice' }), '20 02 00 05');
      assert.equal(await connack({ clientId: 'anon' }), '20 02 00 05');
      assert.equal(await connack({ version: 5, clientId: 'anon5' }), '20 03 00 87 00');
      // An empty password is a password (mosquitto_passwd -b accepts '').
      assert.equal(
        await connack({ clientId: 'e', username: 'alice', password: '' }),
        '20 02 00 05',
      );
      await settle();
      const lines = t.log.messages();
      for (const id of ['w1', 'w2', 'u1', 'u2', 'n1', 'anon', 'anon5']) {
        assert.ok(lines.includes(`Client ${id} disconnected, not authorised.`), id);
      }
      assert.ok(lines.some((line) => line.endsWith("as a1 (p2, c1, k60, u'alice').")));
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('with allow_anonymous true, clients without a username get in; usernames are checked', async () => {
    const dir = tempDir();
    const passwordFile = dir.write('pw', `${passwordEntry('alice', 'secret')}\n`);
    const t = await startSecureBroker({ security: { passwordFile, allowAnonymous: true } });
    try {
      assert.equal(toHex((await t.rawConnect({ clientId: 'anon' })).connack), '20 02 00 00');
      assert.equal(
        toHex((await t.rawConnect({ clientId: 'x', username: 'mallory', password: 'p' })).connack),
        '20 02 00 05',
      );
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('without a password file, allow_anonymous true lets any username in', async () => {
    const t = await startSecureBroker({ security: { allowAnonymous: true } });
    try {
      assert.equal(
        toHex((await t.rawConnect({ clientId: 'x', username: 'anyone', password: 'p' })).connack),
        '20 02 00 00',
      );
    } finally {
      await t.close();
    }
  });

  test('MQTT.js sees the refusal as "Not authorized"', async () => {
    const dir = tempDir();
    const passwordFile = dir.write('pw', `${passwordEntry('alice', 'secret')}\n`);
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const good = await mqttConnect(t.url, { username: 'alice', password: 'secret' });
      await good.end();
      await assert.rejects(
        mqttConnect(t.url, { username: 'alice', password: 'bad', protocolVersion: 5 }),
        /Not authorized/,
      );
      await assert.rejects(
        mqttConnect(t.url, { username: 'alice', password: 'bad', protocolVersion: 4 }),
        /Not authorized/,
      );
    } finally {
      await t.close();
      dir.remove();
    }
  });
});

describe('the password check runs off the event loop', () => {
  test('a second client is served while a slow check runs', async () => {
    const dir = tempDir();
    const passwordFile = dir.write(
      'pw',
      `${passwordEntry('slow', 'pw', HashType.Sha512Pbkdf2, SLOW_ITERATIONS)}\n${passwordEntry('fast', 'pw')}\n`,
    );
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const events: string[] = [];
      const slow = await RawClient.open(t.port);
      slow.send(wire.connect({ clientId: 'slow', username: 'slow', password: 'pw' }));
      const slowConnack = slow.expectPacket(5000).then((bytes) => {
        events.push(`slow connack ${toHex(bytes)}`);
      });
      await waitFor(() => t.broker.connections.size === 1);
      const { client: fast, connack } = await t.rawConnect({
        clientId: 'fast',
        username: 'fast',
        password: 'pw',
      });
      events.push(`fast connack ${toHex(connack)}`);
      fast.send(wire.pingreq());
      events.push(`fast ping ${toHex(await fast.expectPacket())}`);
      await slowConnack;
      assert.deepEqual(events, [
        'fast connack 20 02 00 00',
        'fast ping d0 00',
        'slow connack 20 02 00 00',
      ]);
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('packets sent right after the CONNECT wait and are handled after the CONNACK', async () => {
    const dir = tempDir();
    const passwordFile = dir.write(
      'pw',
      `${passwordEntry('slow', 'pw', HashType.Sha512Pbkdf2, SLOW_ITERATIONS)}\n`,
    );
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const client = await RawClient.open(t.port);
      client.send(
        Buffer.concat([
          wire.connect({ clientId: 'eager', username: 'slow', password: 'pw' }),
          wire.subscribe({ packetId: 7, subscriptions: [{ filter: 'eager/t', options: 1 }] }),
          wire.publish({ topic: 'eager/t', payload: 'hi', qos: 1, packetId: 8 }),
          wire.pingreq(),
        ]),
      );
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) seen.push(toHex(await client.expectPacket(5000)));
      assert.equal(seen[0], '20 02 00 00');
      assert.equal(seen[1], '90 03 00 07 01');
      // The PUBACK and the delivery to ourselves may come in either order.
      assert.deepEqual(
        seen.slice(2, 4).sort(),
        ['32 0d 00 07 65 61 67 65 72 2f 74 00 01 68 69', '40 02 00 08'].sort(),
      );
      assert.equal(seen[4], 'd0 00');
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('a wrong password found slowly is refused; a client that leaves meanwhile is forgotten', async () => {
    const dir = tempDir();
    const line = passwordEntry('slow', 'pw', HashType.Sha512Pbkdf2, SLOW_ITERATIONS);
    const passwordFile = dir.write('pw', `${line}\n`);
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const refused = await t.rawConnect({ clientId: 'wrong', username: 'slow', password: 'x' });
      assert.equal(toHex(refused.connack), '20 02 00 05');

      const leaver = await RawClient.open(t.port);
      leaver.send(wire.connect({ clientId: 'leaver', username: 'slow', password: 'pw' }));
      await waitFor(() => t.broker.connections.size === 1);
      leaver.destroy();
      await waitFor(() => t.broker.connections.size === 0);
      // Let a check of the same cost finish (the broker's one started before it).
      const stored = parsePasswordHash(line.slice('slow:'.length));
      await verifyPassword(Buffer.from('pw'), stored);
      await settle(50);
      const lines = t.log.messages();
      assert.ok(lines.includes('Client leaver closed its connection.'));
      assert.ok(!lines.some((l) => l.includes('as leaver')));
      assert.equal(t.broker.sessions.has('leaver'), false);
    } finally {
      await t.close();
      dir.remove();
    }
  });

  test('a reload during the check: the client is judged by the new file', async () => {
    const dir = tempDir();
    const slowLine = passwordEntry('slow', 'pw', HashType.Sha512Pbkdf2, SLOW_ITERATIONS);
    const passwordFile = dir.write('pw', `${slowLine}\n`);
    const t = await startSecureBroker({ security: { passwordFile } });
    try {
      const client = await RawClient.open(t.port);
      client.send(wire.connect({ clientId: 'c', username: 'slow', password: 'pw' }));
      await waitFor(() => t.broker.connections.size === 1);
      writeFileSync(passwordFile, `${passwordEntry('other', 'pw')}\n`);
      t.broker.reload(t.broker.config);
      assert.equal(toHex(await client.expectPacket(5000)), '20 02 00 05');
    } finally {
      await t.close();
      dir.remove();
    }
  });
});
