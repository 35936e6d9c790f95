/**
 * A bridge over TLS to a remote that is a Node TLS server speaking just enough MQTT (it
 * answers CONNECT with CONNACK 0): bridge_cafile, and bridge_require_ocsp with a real
 * stapled response from `openssl ocsp` (good: connects; revoked or none: refused with
 * the reason in the log, retried later).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import type { Broker } from '../../../src/broker/broker.ts';
import { parseConfigText } from '../../../src/broker/config/parse.ts';
import { defaultListener, defaultSecurity } from '../../../src/broker/config/types.ts';
import { startBroker } from '../../../src/index.ts';
import type { CertificatePair } from '../../helpers/certs.ts';
import { TestPki, opensslSkip } from '../../helpers/certs.ts';
import { waitFor } from '../../helpers/broker.ts';

interface TlsRemote {
  readonly port: number;
  /** CONNECT packets received (first bytes of each connection). */
  readonly connects: Buffer[];
  close(): Promise<void>;
}

async function tlsRemote(server: CertificatePair, staple: Buffer | null): Promise<TlsRemote> {
  const connects: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const listener = tls.createServer({
    cert: readFileSync(server.cert),
    key: readFileSync(server.key),
  });
  listener.on('OCSPRequest', (_certificate, _issuer, callback) => {
    // An empty Buffer staples nothing.
    callback(null, staple ?? Buffer.alloc(0));
  });
  listener.on('tlsClientError', () => undefined);
  listener.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', (chunk: Buffer) => {
      connects.push(chunk);
      socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as AddressInfo).port,
    connects,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}

async function bridgeTo(port: number, extra: string): Promise<{ broker: Broker; log: MemoryLog }> {
  const log = new MemoryLog();
  const { config } = parseConfigText(
    `connection br\naddress 127.0.0.1:${port}\nremote_clientid rid\ntopic a/# both 0\n` +
      `notifications false\nrestart_timeout 1\n${extra}`,
    'b.conf',
  );
  const broker = await startBroker({
    config: {
      ...config,
      sysInterval: 0,
      listeners: [{ ...defaultListener(0, defaultSecurity(true)), bindAddress: '127.0.0.1' }],
    },
    log,
  });
  return { broker, log };
}

describe('bridges over TLS', opensslSkip(), () => {
  let pki: TestPki;
  let good: CertificatePair;
  let revoked: CertificatePair;
  let wrongCa: string;
  const cleanups: (() => Promise<void>)[] = [];

  before(() => {
    pki = TestPki.create();
    good = pki.server('good');
    pki.markValid(good);
    revoked = pki.server('revoked');
    pki.revoke(revoked, 'keyCompromise');
    const other = TestPki.create('/CN=another CA');
    wrongCa = join(pki.dir, 'other-ca.crt');
    writeFileSync(wrongCa, other.read(other.caCert));
    other.remove();
  });

  after(async () => {
    for (const cleanup of cleanups) await cleanup();
    pki.remove();
  });

  async function run(
    server: CertificatePair,
    staple: Buffer | null,
    extra: string,
  ): Promise<{ remote: TlsRemote; log: MemoryLog }> {
    const remote = await tlsRemote(server, staple);
    const { broker, log } = await bridgeTo(remote.port, extra);
    cleanups.push(async () => {
      await broker.close();
      await remote.close();
    });
    return { remote, log };
  }

  test('bridge_cafile: CONNECT over TLS to a remote whose certificate the CA signed', async () => {
    const { remote } = await run(good, null, `bridge_cafile ${pki.caCert}\n`);
    await waitFor(() => remote.connects.length > 0, 3000);
    assert.equal(remote.connects[0]?.[0], 0x10);
  });

  test('a certificate from another CA: refused, logged, retried', async () => {
    const { remote, log } = await run(good, null, `bridge_cafile ${wrongCa}\n`);
    // In Mosquitto's words, at every attempt (restart_timeout 1).
    const refused = 'OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed';
    await waitFor(() => log.lines.filter((l) => l.message === refused).length >= 2, 5000);
    assert.ok(
      log.lines.some((l) => l.message === 'Client local.rid disconnected: Protocol error.'),
    );
    assert.equal(remote.connects.length, 0);
  });

  test('bridge_require_ocsp with a good stapled response: connects', async () => {
    const { remote } = await run(
      good,
      pki.ocspResponse(good),
      `bridge_cafile ${pki.caCert}\nbridge_require_ocsp true\n`,
    );
    await waitFor(() => remote.connects.length > 0, 3000);
  });

  test('bridge_require_ocsp: a revoked certificate or no response is refused', async () => {
    for (const [server, staple, reason] of [
      [
        revoked,
        pki.ocspResponse(revoked),
        'OCSP: SSL certificate revocation reason: keyCompromise (1)',
      ],
      [good, null, 'OCSP: no response'],
    ] as const) {
      const { remote, log } = await run(
        server,
        staple,
        `bridge_cafile ${pki.caCert}\nbridge_require_ocsp true\n`,
      );
      await waitFor(() => log.lines.some((l) => l.message.includes(reason)), 3000);
      assert.ok(
        log.lines.some((l) => l.message === `Bridge local.rid failed to connect: ${reason}`),
        log.lines.map((l) => l.message).join('\n'),
      );
      assert.equal(remote.connects.length, 0);
    }
  });
});
