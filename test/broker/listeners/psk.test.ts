/**
 * TLS-PSK listeners (psk_hint + psk_file): Node's TLS client (through MQTT.js) and
 * Debian's mosquitto_pub --psk against our broker; the psk_file format and its errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type tls from 'node:tls';
import type { IClientOptions } from 'mqtt';
import { defaultSecurity } from '../../../src/broker/config/types.ts';
import { ListenError } from '../../../src/broker/listeners.ts';
import { pskKeyBytes, readPskFile } from '../../../src/broker/psk-file.ts';
import { removeTempDir, trackTempDir } from '../../helpers/children.ts';
import { runCommand } from '../../helpers/command.ts';
import { mosquittoSkip, requiredPath } from '../../helpers/mosquitto.ts';
import { TestPki, opensslSkip } from '../../helpers/certs.ts';
import {
  serverTls,
  startListenerBroker,
  tlsClientOptions,
  tlsOptions,
  tryConnect,
} from './listener-helpers.ts';
import type { ListenerBroker } from './listener-helpers.ts';

/** MQTT.js over TLS-PSK (Node's client needs PSK ciphers named explicitly). */
function pskClient(
  identity: string,
  keyHex: string,
  extra: tls.ConnectionOptions = {},
): IClientOptions {
  const options: tls.ConnectionOptions = {
    pskCallback: () => ({ identity, psk: Buffer.from(keyHex, 'hex') }),
    ciphers: 'PSK',
    checkServerIdentity: () => undefined,
    ...extra,
  };
  return options as IClientOptions;
}

describe('TLS-PSK listeners', () => {
  let dir: string;
  let pskFile: string;

  before(() => {
    dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-psk-')));
    pskFile = join(dir, 'psk');
    writeFileSync(
      pskFile,
      '# identities\nsensor-1:00a1b2c3d4e5f6\r\nsensor-2 : 0123456789abcdef \nno colon here\n',
    );
  });
  after(() => {
    removeTempDir(dir);
  });

  async function start(useIdentity = false): Promise<ListenerBroker> {
    const security = { ...defaultSecurity(false), pskFile };
    return startListenerBroker(
      {
        tls: tlsOptions({ pskHint: 'mosquitto-ts', useIdentityAsUsername: useIdentity }),
        security,
      },
      { security },
    );
  }

  test('a known identity with its key connects; the identity becomes the username', async () => {
    const running = await start(true);
    try {
      const outcome = await tryConnect(
        `mqtts://127.0.0.1:${running.port}`,
        pskClient('sensor-1', '00a1b2c3d4e5f6'),
      );
      assert.equal(outcome.kind, 'connected');
      await outcome.client.endAsync();
      assert.ok(
        running.lines().some((l) => /^New client connected .* u'sensor-1'\)\.$/.test(l)),
        running.lines().join('\n'),
      );
    } finally {
      await running.close();
    }
  });

  test('a wrong key or an unknown identity fails the handshake', async () => {
    const running = await start();
    try {
      const url = `mqtts://127.0.0.1:${running.port}`;
      const wrongKey = await tryConnect(url, pskClient('sensor-2', '0123456789abcdee'));
      assert.notEqual(wrongKey.kind, 'connected');
      const unknown = await tryConnect(url, pskClient('nobody', '0123456789abcdef'));
      assert.notEqual(unknown.kind, 'connected');
      assert.ok(running.lines().some((l) => l.startsWith('OpenSSL Error[0]: ')));
    } finally {
      await running.close();
    }
  });

  test(
    'a psk_file turns TLS 1.3 off, certificate listeners included (2.0.12+)',
    opensslSkip(),
    async () => {
      const pki = TestPki.create();
      try {
        const server = pki.server();
        const tls13Only = {
          ...tlsClientOptions(pki.caCert),
          ...({ minVersion: 'TLSv1.3' } as object),
        };
        for (const [file, expected] of [
          [null, 'connected'],
          [pskFile, 'error'],
        ] as const) {
          const security = { ...defaultSecurity(true), pskFile: file };
          const running = await startListenerBroker(
            { tls: serverTls(server), security },
            { security },
          );
          try {
            const outcome = await tryConnect(`mqtts://localhost:${running.port}`, tls13Only);
            assert.equal(outcome.kind, expected);
            if (outcome.kind === 'connected') await outcome.client.endAsync();
          } finally {
            await running.close();
          }
        }
      } finally {
        pki.remove();
      }
    },
  );

  test("Debian's mosquitto_pub --psk publishes", mosquittoSkip(['mosquitto_pub']), async () => {
    const running = await start(true);
    try {
      const result = await runCommand(requiredPath('mosquitto_pub'), [
        ...['-h', '127.0.0.1', '-p', String(running.port)],
        ...['--psk', '0123456789abcdef', '--psk-identity', 'sensor-2'],
        ...['-t', 'psk/t', '-m', 'hello', '-d'],
      ]);
      assert.equal(result.code, 0, result.stderr + result.stdout);
      assert.match(result.stdout, /received CONNACK \(0\)/);
      assert.ok(running.lines().some((l) => l.includes("u'sensor-2'")));
    } finally {
      await running.close();
    }
  });

  describe('psk_file', () => {
    test('format: comments, CRLF, blanks around fields, lines without a key', () => {
      const loaded = readPskFile(pskFile);
      assert.deepEqual([...loaded.keys.keys()], ['sensor-1', 'sensor-2']);
      assert.equal(loaded.keys.get('sensor-1')?.toString('hex'), '00a1b2c3d4e5f6');
      assert.deepEqual(loaded.warnings, []);
      const path = join(dir, 'warn');
      writeFileSync(path, 'id-only:\nid:abc\nid:def\n');
      const warned = readPskFile(path);
      assert.deepEqual(warned.warnings, [
        `Warning: Invalid line in password file '${path}': id-only:`,
      ]);
      // The first line of an identity wins; odd digits get a leading zero nibble.
      assert.equal(warned.keys.get('id')?.toString('hex'), '0abc');
    });

    test('hex keys as libmosquitto reads them', () => {
      assert.equal(pskKeyBytes('00ab').toString('hex'), '00ab');
      assert.equal(pskKeyBytes('abc').toString('hex'), '0abc');
      assert.equal(pskKeyBytes('ABCD').toString('hex'), 'abcd');
    });

    test('a missing file stops the broker with exit code 13', async () => {
      const security = { ...defaultSecurity(false), pskFile: join(dir, 'missing') };
      await assert.rejects(
        startListenerBroker({ tls: tlsOptions({ pskHint: 'h' }) }, { security }),
        (error: unknown) => {
          assert.ok(error instanceof ListenError);
          assert.equal(error.exitCode, 13);
          assert.equal(
            error.message,
            `Error: Unable to open pwfile "${join(dir, 'missing')}".\nError opening psk file "${join(dir, 'missing')}".`,
          );
          return true;
        },
      );
    });

    test('a key that is not hex stops the broker with exit code 3', async () => {
      const path = join(dir, 'bad');
      writeFileSync(path, 'ok:00\nbad:0xff\n');
      const security = { ...defaultSecurity(false), pskFile: path };
      await assert.rejects(
        startListenerBroker({ tls: tlsOptions({ pskHint: 'h' }) }, { security }),
        (error: unknown) => {
          assert.ok(error instanceof ListenError);
          assert.equal(error.exitCode, 3);
          assert.match(
            error.message,
            /^Error: psk for identity "bad" contains non-hexadecimal characters\./,
          );
          return true;
        },
      );
    });

    test('SIGHUP re-reads the file: a new identity can connect', async () => {
      const path = join(dir, 'reloaded');
      writeFileSync(path, 'first:0102\n');
      const security = { ...defaultSecurity(false), pskFile: path };
      const running = await startListenerBroker(
        { tls: tlsOptions({ pskHint: 'h', useIdentityAsUsername: true }), security },
        { security },
      );
      try {
        const url = `mqtts://127.0.0.1:${running.port}`;
        assert.notEqual((await tryConnect(url, pskClient('second', '0304'))).kind, 'connected');
        writeFileSync(path, 'first:0102\nsecond:0304\n');
        running.broker.reload(running.broker.config);
        const outcome = await tryConnect(url, pskClient('second', '0304'));
        assert.equal(outcome.kind, 'connected');
        await outcome.client.endAsync();
      } finally {
        await running.close();
      }
    });
  });
});
