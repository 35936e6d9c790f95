/**
 * CONNECT handling, byte for byte (Mosquitto's 01-connect-* tests): first packet rules,
 * protocol levels, client id rules, authentication refusals, takeover, keepalive.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPasswordHash, hashPassword } from '../../src/common/password.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { hex, toHex } from '../helpers/packet-bytes.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { decodeFromBroker, settle, startTestBroker } from '../helpers/broker.ts';
import { PacketType } from '../../src/protocol/constants.ts';
import { generateClientId } from '../../src/broker/handlers/connect.ts';

describe('first packet', () => {
  test('anything but CONNECT first closes at once, without a reply', async () => {
    const t = await startTestBroker();
    try {
      const client = await RawClient.open(t.port);
      client.send(wire.pingreq());
      await client.expectClosed();
      await settle();
      assert.ok(t.log.messages().includes('Client <unknown> disconnected due to protocol error.'));
    } finally {
      await t.close();
    }
  });

  test('a second CONNECT is a protocol error', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ clientId: 'twice' });
      client.send(wire.connect({ clientId: 'twice' }));
      await client.expectClosed();
      await settle();
      assert.ok(t.log.messages().includes('Bad client twice sending multiple CONNECT messages.'));
    } finally {
      await t.close();
    }
  });

  test('no complete CONNECT within the deadline: closed', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const client = await RawClient.open(t.port);
      client.send(hex('10 20 00 04'));
      await settle();
      t.clock.advance(89_999);
      assert.equal((await client.next(50)).kind, 'timeout');
      t.clock.advance(1);
      await client.expectClosed();
    } finally {
      await t.close();
    }
  });
});

describe('protocol name and level', () => {
  for (const [name, level] of [
    ['MQTT', 3],
    ['MQTT', 6],
    ['MQIsdp', 4],
  ] as const) {
    test(`${name} level ${level}: CONNACK 1 in the 3.1.1 layout, then close`, async () => {
      const t = await startTestBroker();
      try {
        const client = await RawClient.open(t.port);
        client.send(wire.connect({ protocolName: name, protocolLevel: level }));
        assert.equal(toHex(await client.expectPacket()), '20 02 00 01');
        await client.expectClosed();
        await settle();
        assert.ok(
          t.log.messages().includes(`Invalid protocol version ${level} in CONNECT from 127.0.0.1.`),
        );
      } finally {
        await t.close();
      }
    });
  }

  test('an MQTT 5 client with a bad level also gets the 2-byte CONNACK 1', async () => {
    const t = await startTestBroker();
    try {
      const client = await RawClient.open(t.port);
      client.send(wire.connect({ version: 5, protocolLevel: 7 }));
      assert.equal(toHex(await client.expectPacket()), '20 02 00 01');
    } finally {
      await t.close();
    }
  });

  test('unknown protocol name: closed without CONNACK', async () => {
    const t = await startTestBroker();
    try {
      const client = await RawClient.open(t.port);
      client.send(wire.connect({ protocolName: 'MQTX' }));
      await client.expectClosed();
    } finally {
      await t.close();
    }
  });

  test('MQTT 3.1, 3.1.1 and 5 are accepted', async () => {
    const t = await startTestBroker();
    try {
      assert.equal(toHex((await t.rawConnect({ version: 3 })).connack), '20 02 00 00');
      assert.equal(toHex((await t.rawConnect({ version: 4 })).connack), '20 02 00 00');
      // Features §3.3: the default MQTT 5 CONNACK, byte for byte.
      assert.equal(
        toHex((await t.rawConnect({ version: 5 })).connack),
        '20 09 00 00 06 22 00 0a 21 00 14',
      );
      await settle();
      const lines = t.log.messages().filter((line) => line.startsWith('New client connected'));
      assert.match(lines[0] ?? '', /as raw-client \(p1, c1, k60\)\.$/);
      assert.match(lines[1] ?? '', /\(p2, c1, k60\)\.$/);
      assert.match(lines[2] ?? '', /\(p5, c1, k60\)\.$/);
    } finally {
      await t.close();
    }
  });
});

describe('client identifier', () => {
  test('generated ids have Mosquitto form', () => {
    assert.match(
      generateClientId('auto-'),
      /^auto-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/,
    );
  });

  test('MQTT 3.1 with an empty id: CONNACK 2', async () => {
    const t = await startTestBroker();
    try {
      const { connack } = await t.rawConnect({ version: 3, clientId: '' });
      assert.equal(toHex(connack), '20 02 00 02');
    } finally {
      await t.close();
    }
  });

  test('MQTT 3.1.1 empty id: only with clean session', async () => {
    const t = await startTestBroker();
    try {
      const refused = await t.rawConnect({ clientId: '', cleanStart: false });
      assert.equal(toHex(refused.connack), '20 02 00 02');
      await refused.client.expectClosed();
      const accepted = await t.rawConnect({ clientId: '' });
      assert.equal(toHex(accepted.connack), '20 02 00 00');
      await settle();
      assert.ok(t.log.messages().some((line) => /as auto-[0-9A-F-]{36} \(p2/.test(line)));
    } finally {
      await t.close();
    }
  });

  test('MQTT 5 empty id: Assigned Client Identifier, between alias maximum and receive maximum', async () => {
    const t = await startTestBroker();
    try {
      const { connack } = await t.rawConnect({ version: 5, clientId: '' });
      const hexText = toHex(connack);
      assert.match(hexText, /^20 35 00 00 32 22 00 0a 12 00 29 61 75 74 6f 2d .* 21 00 14$/);
      const packet = decodeFromBroker(connack, 5);
      assert.ok(packet.type === PacketType.Connack);
      assert.deepEqual(Object.keys(packet.properties), [
        'topicAliasMaximum',
        'assignedClientIdentifier',
        'receiveMaximum',
      ]);
      assert.match(packet.properties.assignedClientIdentifier ?? '', /^auto-[0-9A-F-]{36}$/);
    } finally {
      await t.close();
    }
  });

  test('allow_zero_length_clientid false and auto_id_prefix', async () => {
    const t = await startTestBroker({
      config: {
        security: {
          allowAnonymous: true,
          allowZeroLengthClientid: false,
          autoIdPrefix: 'x-',
          passwordFile: null,
          aclFile: null,
          pskFile: null,
        },
      },
    });
    try {
      assert.equal(toHex((await t.rawConnect({ clientId: '' })).connack), '20 02 00 02');
      // MQTT 5 gets 0x80 Unspecified error, not 0x85, as Mosquitto.
      assert.equal(
        toHex((await t.rawConnect({ version: 5, clientId: '' })).connack),
        '20 03 00 80 00',
      );
    } finally {
      await t.close();
    }
    const prefixed = await startTestBroker({
      config: {
        security: {
          allowAnonymous: true,
          allowZeroLengthClientid: true,
          autoIdPrefix: 'x-',
          passwordFile: null,
          aclFile: null,
          pskFile: null,
        },
      },
    });
    try {
      const { connack } = await prefixed.rawConnect({ version: 5, clientId: '' });
      const packet = decodeFromBroker(connack, 5);
      assert.ok(packet.type === PacketType.Connack);
      assert.match(packet.properties.assignedClientIdentifier ?? '', /^x-[0-9A-F-]{36}$/);
    } finally {
      await prefixed.close();
    }
  });
});

describe('authentication', () => {
  const closed = {
    allowAnonymous: false,
    allowZeroLengthClientid: true,
    autoIdPrefix: 'auto-',
    passwordFile: null,
    aclFile: null,
    pskFile: null,
  };

  // Without a password file, allow_anonymous false refuses every client, with or without a
  // username (mosquitto_unpwd_check with no auth source; seen on Debian's 2.0.11).
  test('anonymous refused: CONNACK 5 (3.1.1) and 0x87 (5), and so is a username', async () => {
    const t = await startTestBroker({ config: { security: closed } });
    try {
      assert.equal(toHex((await t.rawConnect({ clientId: 'a' })).connack), '20 02 00 05');
      assert.equal(
        toHex((await t.rawConnect({ version: 5, clientId: 'b' })).connack),
        '20 03 00 87 00',
      );
      assert.equal(
        toHex((await t.rawConnect({ clientId: 'c', username: 'u', password: 'p' })).connack),
        '20 02 00 05',
      );
      await settle();
      assert.ok(t.log.messages().includes('Client a disconnected, not authorised.'));
      assert.ok(t.log.messages().includes('Client c disconnected, not authorised.'));
    } finally {
      await t.close();
    }
  });

  test('an authentication method is refused with 0x8C', async () => {
    const t = await startTestBroker();
    try {
      const { client, connack } = await t.rawConnect({
        version: 5,
        properties: [{ id: 0x15, value: 'SCRAM-SHA-1' }],
      });
      assert.equal(toHex(connack), '20 03 00 8c 00');
      await client.expectClosed();
    } finally {
      await t.close();
    }
  });
});

describe('takeover', () => {
  test('a v3 client is closed; a v5 client gets DISCONNECT 0x8E', async () => {
    const t = await startTestBroker();
    try {
      const { client: oldV3 } = await t.rawConnect({ clientId: 'same' });
      const { client: newV3 } = await t.rawConnect({ clientId: 'same' });
      await oldV3.expectClosed();
      const { client: oldV5 } = await t.rawConnect({ version: 5, clientId: 'same' });
      await newV3.expectClosed();
      await t.rawConnect({ version: 5, clientId: 'same' });
      assert.equal(toHex(await oldV5.expectPacket()), 'e0 01 8e');
      await oldV5.expectClosed();
      await settle();
      assert.ok(
        t.log.messages().includes('Client same already connected, closing old connection.'),
      );
    } finally {
      await t.close();
    }
  });

  test('takeover only after authentication', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-takeover-'));
    const passwordFile = join(dir, 'passwd');
    writeFileSync(passwordFile, `u:${formatPasswordHash(hashPassword('p'))}\n`, { mode: 0o600 });
    const t = await startTestBroker({
      config: {
        security: {
          allowAnonymous: false,
          allowZeroLengthClientid: true,
          autoIdPrefix: 'auto-',
          passwordFile,
          aclFile: null,
          pskFile: null,
        },
      },
    });
    try {
      const { client: owner } = await t.rawConnect({
        clientId: 'id',
        username: 'u',
        password: 'p',
      });
      const { connack } = await t.rawConnect({ clientId: 'id', username: 'u', password: 'x' });
      assert.equal(toHex(connack), '20 02 00 05');
      owner.send(wire.pingreq());
      assert.equal(toHex(await owner.expectPacket()), 'd0 00');
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('keepalive', () => {
  test('closed after 1.5 x keepalive without packets, not before; PINGREQ resets', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const { client } = await t.rawConnect({ clientId: 'ka', keepAlive: 2 });
      t.clock.advance(2000);
      client.send(wire.pingreq());
      assert.equal(toHex(await client.expectPacket()), 'd0 00');
      t.clock.advance(2999);
      assert.equal((await client.next(50)).kind, 'timeout');
      t.clock.advance(1);
      await client.expectClosed();
      await settle();
      assert.ok(t.log.messages().includes('Client ka has exceeded timeout, disconnecting.'));
    } finally {
      await t.close();
    }
  });

  test('keepalive 0: never timed out', async () => {
    const t = await startTestBroker({ manualClock: true });
    try {
      const { client } = await t.rawConnect({ clientId: 'ka0', keepAlive: 0 });
      t.clock.advance(10_000_000);
      client.send(wire.pingreq());
      assert.equal(toHex(await client.expectPacket()), 'd0 00');
    } finally {
      await t.close();
    }
  });

  test('max_keepalive: v5 gets Server Keep Alive, v3 is refused with CONNACK 2', async () => {
    const t = await startTestBroker({ manualClock: true, config: { maxKeepalive: 10 } });
    try {
      const { client, connack } = await t.rawConnect({ version: 5, keepAlive: 0 });
      assert.equal(toHex(connack), '20 0c 00 00 09 13 00 0a 22 00 0a 21 00 14');
      t.clock.advance(14_999);
      assert.equal((await client.next(50)).kind, 'timeout');
      t.clock.advance(1);
      await client.expectClosed();
      assert.equal(toHex((await t.rawConnect({ keepAlive: 60 })).connack), '20 02 00 02');
    } finally {
      await t.close();
    }
  });
});

describe('protocol errors after CONNECT', () => {
  test('v5: DISCONNECT with the reason code, then close; v3: plain close; both logged', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ version: 5, clientId: 'm5' });
      // QoS 0 with DUP set is malformed [MQTT-3.3.1-2].
      client.send(hex('38 03 00 01 74'));
      assert.equal(toHex(await client.expectPacket()), 'e0 01 81');
      await client.expectClosed();
      const { client: v3 } = await t.rawConnect({ clientId: 'm3' });
      v3.send(hex('38 03 00 01 74'));
      await v3.expectClosed();
      await settle();
      assert.ok(t.log.messages().includes('Client m5 disconnected due to malformed packet.'));
      assert.ok(t.log.messages().includes('Client m3 disconnected due to malformed packet.'));
    } finally {
      await t.close();
    }
  });

  test('the client closing its socket is logged as such', async () => {
    const t = await startTestBroker();
    try {
      const { client } = await t.rawConnect({ clientId: 'eof' });
      client.end();
      await client.expectClosed();
      await settle();
      assert.ok(t.log.messages().includes('Client eof closed its connection.'));
    } finally {
      await t.close();
    }
  });
});

describe('max_connections', () => {
  test('connections beyond the limit are closed at once and logged', async () => {
    const t = await startTestBroker({ listener: { maxConnections: 1 } });
    try {
      await t.rawConnect({ clientId: 'first' });
      const second = await RawClient.open(t.port);
      await second.expectClosed();
      await settle();
      assert.ok(
        t.log
          .messages()
          .includes('Client connection from 127.0.0.1 denied: max_connections exceeded.'),
      );
    } finally {
      await t.close();
    }
  });
});
