/**
 * The library's transports against Debian's mosquitto: TLS with a CA file and a CA
 * directory, host name checking and --insecure, client certificates, TLS-PSK, MQTT over
 * WebSockets, a unix socket, and a SOCKS5 proxy (a small one run by the test). The
 * certificates are made by the test with openssl.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MqttClient } from '../../src/client/client.ts';
import { ClientErrorCode } from '../../src/client/errors.ts';
import type { ConnectOptions } from '../../src/client/options.ts';
import { mosquittoSkip, startRealBroker } from '../helpers/mosquitto.ts';
import { freePort, type RunningBroker } from '../helpers/process.ts';
import { opensslPath, testCertificates } from './certs.ts';
import { startSocksProxy } from './socks-proxy.ts';

const skip =
  opensslPath === null ? { skip: 'needs openssl (apt-get install -y openssl)' } : mosquittoSkip();

/** Connects, checks a publish comes back through a subscription, disconnects. */
async function roundTrip(options: ConnectOptions): Promise<void> {
  const client = await MqttClient.connect(options);
  const sub = await client.subscribe('transport/check');
  await client.publish('transport/check', 'ok', { qos: 1 });
  for await (const message of sub) {
    assert.equal(message.payload.toString(), 'ok');
    break;
  }
  await client.end();
}

describe('transports against Debian mosquitto', skip, () => {
  let broker: RunningBroker | null = null;
  const ports = { clientCert: 0, ws: 0, psk: 0 };
  let unixPath = '';
  before(async () => {
    const certs = testCertificates();
    ports.clientCert = await freePort();
    ports.ws = await freePort();
    ports.psk = await freePort();
    const tlsLines = [
      `cafile ${certs.caCert}`,
      `certfile ${certs.serverCert}`,
      `keyfile ${certs.serverKey}`,
    ];
    broker = await startRealBroker({
      config: [
        ...tlsLines,
        `listener ${ports.clientCert} 127.0.0.1`,
        ...tlsLines,
        'require_certificate true',
        `listener ${ports.ws} 127.0.0.1`,
        'protocol websockets',
        'listener 0 {dir}/mqtt.sock',
        `listener ${ports.psk} 127.0.0.1`,
        'psk_hint test-hint',
        'psk_file {dir}/psk',
      ],
      files: { psk: 'psk-user:00112233445566778899aabbccddeeff\n' },
    });
    unixPath = join(broker.dir, 'mqtt.sock');
  });
  after(() => broker?.stop());

  const tlsPort = (): number => broker?.port ?? 0;

  test('TLS with a CA file, server name "localhost"', async () => {
    const certs = testCertificates();
    await roundTrip({ host: 'localhost', port: tlsPort(), tls: { caFile: certs.caCert } });
  });

  test('TLS with a CA directory', async () => {
    const certs = testCertificates();
    const caDir = join(certs.dir, 'capath');
    mkdirSync(caDir, { recursive: true });
    copyFileSync(certs.caCert, join(caDir, 'ca.pem'));
    await roundTrip({ host: 'localhost', port: tlsPort(), tls: { caPath: caDir } });
  });

  test('TLS via an mqtts:// URL with TLS version and ALPN-free defaults', async () => {
    const certs = testCertificates();
    await roundTrip({
      url: `mqtts://localhost:${tlsPort()}`,
      tls: { caFile: certs.caCert, version: 'tlsv1.2' },
    });
  });

  test('the host name is checked, and insecure skips only that check', async () => {
    const certs = testCertificates();
    await assert.rejects(
      MqttClient.connect({ host: '127.0.0.1', port: tlsPort(), tls: { caFile: certs.caCert } }),
      { code: ClientErrorCode.Tls },
    );
    await roundTrip({
      host: '127.0.0.1',
      port: tlsPort(),
      tls: { caFile: certs.caCert, insecure: true },
    });
    await assert.rejects(
      MqttClient.connect({
        host: '127.0.0.1',
        port: tlsPort(),
        tls: { caFile: certs.otherCaCert, insecure: true },
      }),
      { code: ClientErrorCode.Tls },
    );
  });

  test('a missing CA file is reported before connecting', async () => {
    await assert.rejects(
      MqttClient.connect({
        host: 'localhost',
        port: tlsPort(),
        tls: { caFile: '/nonexistent.pem' },
      }),
      { code: ClientErrorCode.TlsFile },
    );
  });

  test('a listener that requires a client certificate', async () => {
    const certs = testCertificates();
    await roundTrip({
      host: 'localhost',
      port: ports.clientCert,
      tls: { caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey },
    });
    const without = MqttClient.connect({
      host: 'localhost',
      port: ports.clientCert,
      tls: { caFile: certs.caCert },
      connectTimeoutMs: 3000,
    });
    await assert.rejects(without, (error: unknown) => {
      assert.ok(error instanceof Error);
      return true;
    });
  });

  test('TLS-PSK', async () => {
    await roundTrip({
      host: '127.0.0.1',
      port: ports.psk,
      tls: { psk: { identity: 'psk-user', hexKey: '00112233445566778899aabbccddeeff' } },
    });
  });

  for (const version of [3, 4, 5] as const) {
    test(`MQTT over WebSockets (protocol level ${version})`, async () => {
      await roundTrip({ url: `ws://127.0.0.1:${ports.ws}`, protocolVersion: version });
    });
  }

  test('a unix socket', async () => {
    await roundTrip({ unixPath });
    await roundTrip({ url: `unix://${unixPath}` });
  });

  test('through a SOCKS5 proxy, with and without a password', async () => {
    const proxy = await startSocksProxy();
    try {
      await roundTrip({
        host: 'localhost',
        port: tlsPort(),
        proxy: { host: '127.0.0.1', port: proxy.port },
        tls: { caFile: testCertificates().caCert },
      });
      await roundTrip({
        host: '127.0.0.1',
        port: ports.ws === 0 ? 0 : ports.psk,
        proxy: { host: '127.0.0.1', port: proxy.port, username: 'u', password: 'p' },
        tls: { psk: { identity: 'psk-user', hexKey: '00112233445566778899aabbccddeeff' } },
      });
      assert.deepEqual(proxy.methods, [[0], [0, 2]]);
      assert.deepEqual(proxy.credentials, ['u:p']);
      assert.deepEqual(proxy.targets, [`localhost:${tlsPort()}`, `127.0.0.1:${ports.psk}`]);
    } finally {
      await proxy.close();
    }
  });
});
