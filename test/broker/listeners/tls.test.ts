/**
 * Certificate listeners: MQTT.js over TLS against our broker, with certificates the test
 * makes with openssl. Refusals and log lines are Mosquitto 2.0's (checked against Debian's
 * broker when writing these tests: "OpenSSL Error[0]: ...", then "Client <unknown>
 * disconnected: Protocol error.").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import tls from 'node:tls';
import { certificateWatchTiming } from '../../../src/broker/certificate-watcher.ts';
import { defaultSecurity } from '../../../src/broker/config/types.ts';
import { ListenError } from '../../../src/broker/listeners.ts';
import type { CertificatePair } from '../../helpers/certs.ts';
import { TestPki, opensslSkip } from '../../helpers/certs.ts';
import { waitFor } from '../../helpers/broker.ts';
import {
  connectOrFail,
  roundTrip,
  serverTls,
  startListenerBroker,
  tlsClientOptions,
  tryConnect,
} from './listener-helpers.ts';

/** The certificate a TLS server presents on a new connection. */
function serverFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca }, () => {
      const certificate = socket.getPeerX509Certificate();
      socket.destroy();
      resolve(certificate?.fingerprint256 ?? '');
    });
    socket.on('error', reject);
  });
}

function fingerprint(path: string, pki: TestPki): string {
  return new X509Certificate(pki.read(path)).fingerprint256;
}

describe('TLS listeners', opensslSkip(), () => {
  let pki: TestPki;
  let server: CertificatePair;
  let alice: CertificatePair;
  let revoked: CertificatePair;
  let noCommonName: CertificatePair;
  let stranger: CertificatePair;
  let crl: string;

  before(() => {
    pki = TestPki.create();
    server = pki.server();
    alice = pki.client('/C=GB/O=Example, Inc/OU=Lab/CN=alice');
    revoked = pki.client('/CN=revoked');
    noCommonName = pki.client('/O=Nameless');
    stranger = pki.selfSigned('/CN=stranger');
    pki.revoke(revoked);
    crl = pki.crl();
  });
  after(() => {
    pki.remove();
  });

  test('MQTT.js publishes and subscribes over TLS', async () => {
    const running = await startListenerBroker({ tls: serverTls(server) });
    try {
      const url = `mqtts://localhost:${running.port}`;
      const sub = await connectOrFail(url, tlsClientOptions(pki.caCert));
      const pub = await connectOrFail(url, tlsClientOptions(pki.caCert));
      assert.equal(await roundTrip(sub, pub, 'tls/t', 'over tls'), 'over tls');
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    } finally {
      await running.close();
    }
  });

  describe('require_certificate', () => {
    const tlsConfig = (): ReturnType<typeof serverTls> =>
      serverTls(server, { cafile: pki.caCert, requireCertificate: true, crlfile: crl });

    test('a certificate from the CA is accepted', async () => {
      const running = await startListenerBroker({ tls: tlsConfig() });
      try {
        const outcome = await tryConnect(
          `mqtts://localhost:${running.port}`,
          tlsClientOptions(pki.caCert, alice),
        );
        assert.equal(outcome.kind, 'connected');
        await outcome.client.endAsync();
      } finally {
        await running.close();
      }
    });

    test('no certificate: the handshake fails, logged as Mosquitto does', async () => {
      const running = await startListenerBroker({ tls: tlsConfig() });
      try {
        const outcome = await tryConnect(
          `mqtts://localhost:${running.port}`,
          tlsClientOptions(pki.caCert),
        );
        assert.equal(outcome.kind, 'error');
        assert.match(outcome.message, /certificate required/);
        await waitFor(() => running.lines().some((l) => l.startsWith('Client <unknown>')));
        const lines = running.lines().slice(-3);
        assert.match(lines[0] ?? '', /^New connection from 127\.0\.0\.1:\d+ on port \d+\.$/);
        assert.deepEqual(lines.slice(1), [
          'OpenSSL Error[0]: error:0A0000C7:SSL routines::peer did not return a certificate',
          'Client <unknown> disconnected: Protocol error.',
        ]);
      } finally {
        await running.close();
      }
    });

    for (const [name, client] of [
      ['a certificate of another CA', (): CertificatePair => stranger],
      ['a revoked certificate (crlfile)', (): CertificatePair => revoked],
    ] as const) {
      test(`${name} is refused: "certificate verify failed"`, async () => {
        const running = await startListenerBroker({ tls: tlsConfig() });
        try {
          const outcome = await tryConnect(
            `mqtts://localhost:${running.port}`,
            tlsClientOptions(pki.caCert, client()),
          );
          assert.notEqual(outcome.kind, 'connected');
          await waitFor(() => running.lines().some((l) => l.startsWith('Client <unknown>')));
          const lines = running.lines().slice(-3);
          assert.match(lines[0] ?? '', /^New connection from 127\.0\.0\.1:\d+ on port \d+\.$/);
          assert.deepEqual(lines.slice(1), [
            'OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed',
            'Client <unknown> disconnected: Protocol error.',
          ]);
        } finally {
          await running.close();
        }
      });
    }

    test('several failed handshakes at once are each logged with their own address', async () => {
      const running = await startListenerBroker({ tls: tlsConfig() });
      try {
        const url = `mqtts://localhost:${running.port}`;
        const outcomes = await Promise.all(
          [stranger, revoked, stranger].map((client) =>
            tryConnect(url, tlsClientOptions(pki.caCert, client)),
          ),
        );
        assert.ok(outcomes.every((o) => o.kind !== 'connected'));
        await waitFor(
          () => running.lines().filter((l) => l.startsWith('Client <unknown>')).length === 3,
        );
        const addresses = running
          .lines()
          .filter((l) => l.startsWith('New connection from'))
          .map((l) => /:(\d+) on/.exec(l)?.[1]);
        assert.equal(new Set(addresses).size, 3);
      } finally {
        await running.close();
      }
    });
  });

  describe('usernames from the certificate', () => {
    test('use_identity_as_username: the CN, whatever the CONNECT says', async () => {
      const running = await startListenerBroker(
        {
          tls: serverTls(server, {
            cafile: pki.caCert,
            requireCertificate: true,
            useIdentityAsUsername: true,
          }),
        },
        { security: defaultSecurity(false) },
      );
      try {
        const client = await connectOrFail(`mqtts://localhost:${running.port}`, {
          ...tlsClientOptions(pki.caCert, alice),
          username: 'mallory',
          password: 'not checked',
        });
        await client.endAsync();
        assert.ok(
          running.lines().some((l) => /^New client connected .* u'alice'\)\.$/.test(l)),
          running.lines().join('\n'),
        );
      } finally {
        await running.close();
      }
    });

    test('use_subject_as_username: the subject in RFC 2253 form', async () => {
      const running = await startListenerBroker(
        {
          tls: serverTls(server, {
            cafile: pki.caCert,
            requireCertificate: true,
            useSubjectAsUsername: true,
          }),
        },
        { security: defaultSecurity(false) },
      );
      try {
        const client = await connectOrFail(
          `mqtts://localhost:${running.port}`,
          tlsClientOptions(pki.caCert, alice),
        );
        await client.endAsync();
        assert.ok(
          running.lines().some((l) => l.endsWith("u'CN=alice,OU=Lab,O=Example\\, Inc,C=GB').")),
          running.lines().join('\n'),
        );
      } finally {
        await running.close();
      }
    });

    for (const version of [4, 5] as const) {
      const code = version === 5 ? 0x86 : 4;
      test(`no commonName: CONNACK ${code} (MQTT ${version === 5 ? '5' : '3.1.1'})`, async () => {
        const running = await startListenerBroker({
          tls: serverTls(server, {
            cafile: pki.caCert,
            requireCertificate: true,
            useIdentityAsUsername: true,
          }),
        });
        try {
          const outcome = await tryConnect(`mqtts://localhost:${running.port}`, {
            ...tlsClientOptions(pki.caCert, noCommonName),
            protocolVersion: version,
          });
          assert.deepEqual(outcome, { kind: 'refused', code });
        } finally {
          await running.close();
        }
      });
    }

    test('use_identity_as_username without require_certificate: CONNACK 4', async () => {
      const running = await startListenerBroker({
        tls: serverTls(server, { cafile: pki.caCert, useIdentityAsUsername: true }),
      });
      try {
        const outcome = await tryConnect(`mqtts://localhost:${running.port}`, {
          ...tlsClientOptions(pki.caCert, alice),
          username: 'alice',
        });
        assert.deepEqual(outcome, { kind: 'refused', code: 4 });
      } finally {
        await running.close();
      }
    });
  });

  test('tls_version tlsv1.3 refuses a TLS 1.2 client', async () => {
    const running = await startListenerBroker({
      tls: serverTls(server, { tlsVersion: 'tlsv1.3' }),
    });
    try {
      const tls12 = await tryConnect(`mqtts://localhost:${running.port}`, {
        ...tlsClientOptions(pki.caCert),
        ...({ maxVersion: 'TLSv1.2' } as object),
      });
      assert.equal(tls12.kind, 'error');
      const tls13 = await connectOrFail(
        `mqtts://localhost:${running.port}`,
        tlsClientOptions(pki.caCert),
      );
      await tls13.endAsync();
    } finally {
      await running.close();
    }
  });

  test('ciphers restricts TLS 1.2 suites; ciphers_tls1.3 the TLS 1.3 ones', async () => {
    const running = await startListenerBroker({
      tls: serverTls(server, {
        ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384',
        ciphersTls13: 'TLS_CHACHA20_POLY1305_SHA256',
      }),
    });
    try {
      const cipherOf = (options: tls.ConnectionOptions): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = tls.connect(
            {
              port: running.port,
              host: '127.0.0.1',
              servername: 'localhost',
              ca: pki.read(pki.caCert),
              ...options,
            },
            () => {
              resolve(socket.getCipher().name);
              socket.destroy();
            },
          );
          socket.on('error', reject);
        });
      assert.equal(await cipherOf({ maxVersion: 'TLSv1.2' }), 'ECDHE-ECDSA-AES256-GCM-SHA384');
      assert.equal(await cipherOf({}), 'TLS_CHACHA20_POLY1305_SHA256');
      await assert.rejects(
        cipherOf({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }),
      );
    } finally {
      await running.close();
    }
  });

  describe('start-up errors (exit 1, Mosquitto texts)', () => {
    const cases: [string, () => Parameters<typeof serverTls>[1] & object, RegExp][] = [
      [
        'missing certfile',
        () => ({ certfile: '/nonexistent/server.crt' }),
        /^Error: Unable to load server certificate "\/nonexistent\/server.crt". Check certfile\.\nOpenSSL Error\[0\]: error:80000002:system library::No such file or directory$/,
      ],
      [
        'a key that does not match',
        () => ({ keyfile: alice.key }),
        /^Error: Server certificate\/key are inconsistent\./,
      ],
      [
        'a cafile without certificates',
        () => ({ cafile: server.key }),
        /^Error: Unable to load CA certificates\. Check cafile ".*"\.$/,
      ],
      [
        'a bad tls_version',
        () => ({ tlsVersion: 'tlsv9' }),
        /^Error: Unsupported tls_version "tlsv9"\.$/,
      ],
      [
        'a bad cipher list',
        () => ({ ciphers: 'NOT-A-CIPHER' }),
        /^Error: Unable to set TLS ciphers\. Check cipher list "NOT-A-CIPHER"\.$/,
      ],
      [
        'a bad crlfile',
        () => ({ crlfile: server.cert, requireCertificate: true, cafile: pki.caCert }),
        /^Error: Unable to load certificate revocation file ".*"\. Check crlfile\./,
      ],
    ];
    for (const [name, overrides, expected] of cases) {
      test(name, async () => {
        const attempt = startListenerBroker({ tls: serverTls(server, overrides()) });
        await assert.rejects(attempt, (error: unknown) => {
          assert.ok(error instanceof ListenError);
          assert.equal(error.exitCode, 1);
          assert.match(error.message, expected);
          return true;
        });
      });
    }
  });

  describe('reloading certificates', () => {
    test('SIGHUP (broker.reload) serves the new certificate to new connections only', async () => {
      const dir = TestPki.create();
      try {
        const first = pki.server('reload-first');
        const second = pki.server('reload-second');
        const certfile = `${dir.dir}/live.crt`;
        const keyfile = `${dir.dir}/live.key`;
        copyFileSync(first.cert, certfile);
        copyFileSync(first.key, keyfile);
        const running = await startListenerBroker({
          tls: serverTls({ cert: certfile, key: keyfile }),
        });
        try {
          const ca = pki.read(pki.caCert);
          const connected = await connectOrFail(
            `mqtts://localhost:${running.port}`,
            tlsClientOptions(pki.caCert),
          );
          assert.equal(await serverFingerprint(running.port, ca), fingerprint(first.cert, pki));
          copyFileSync(second.cert, certfile);
          copyFileSync(second.key, keyfile);
          running.broker.reload(running.broker.config);
          assert.equal(await serverFingerprint(running.port, ca), fingerprint(second.cert, pki));
          // The client connected before the reload is still there.
          await connected.publishAsync('still/here', 'yes');
          assert.ok(connected.connected);
          await connected.endAsync();
        } finally {
          await running.close();
        }
      } finally {
        dir.remove();
      }
    });

    test('tls_reload_on_change: new files on disk reach new connections by themselves', async () => {
      const dir = TestPki.create();
      const saved = { ...certificateWatchTiming };
      Object.assign(certificateWatchTiming, { intervalMs: 20, settleMs: 40 });
      try {
        const first = pki.server('watch-first');
        const second = pki.server('watch-second');
        const certfile = `${dir.dir}/live.crt`;
        const keyfile = `${dir.dir}/live.key`;
        copyFileSync(first.cert, certfile);
        copyFileSync(first.key, keyfile);
        const running = await startListenerBroker({
          tls: serverTls({ cert: certfile, key: keyfile }, { reloadOnChange: true }),
        });
        try {
          const ca = pki.read(pki.caCert);
          const connected = await connectOrFail(
            `mqtts://localhost:${running.port}`,
            tlsClientOptions(pki.caCert),
          );
          assert.equal(await serverFingerprint(running.port, ca), fingerprint(first.cert, pki));
          // A renewal that writes the certificate first and the key a moment later.
          copyFileSync(second.cert, certfile);
          await new Promise((resolve) => setTimeout(resolve, 10));
          copyFileSync(second.key, keyfile);
          const expected = fingerprint(second.cert, pki);
          const deadline = Date.now() + 5000;
          while ((await serverFingerprint(running.port, ca)) !== expected) {
            assert.ok(Date.now() < deadline, 'the new certificate was not picked up');
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          assert.ok(running.lines().some((l) => l.startsWith('TLS certificate files changed')));
          await connected.publishAsync('still/here', 'yes');
          await connected.endAsync();
        } finally {
          await running.close();
        }
      } finally {
        Object.assign(certificateWatchTiming, saved);
        dir.remove();
      }
    });

    test('a reload that fails keeps the previous certificate and logs why', async () => {
      const dir = TestPki.create();
      try {
        const first = pki.server('keep-first');
        const certfile = `${dir.dir}/live.crt`;
        const keyfile = `${dir.dir}/live.key`;
        copyFileSync(first.cert, certfile);
        copyFileSync(first.key, keyfile);
        const running = await startListenerBroker({
          tls: serverTls({ cert: certfile, key: keyfile }),
        });
        try {
          copyFileSync(alice.key, keyfile);
          running.broker.reload(running.broker.config);
          assert.deepEqual(running.lines().slice(-3), [
            'Error: Server certificate/key are inconsistent.',
            'OpenSSL Error[0]: error:05800074:x509 certificate routines::key values mismatch',
            `Error when reloading certificate '${certfile}' or key '${keyfile}'.`,
          ]);
          assert.equal(
            running.lines().at(-1),
            `Error when reloading certificate '${certfile}' or key '${keyfile}'.`,
          );
          const ca = pki.read(pki.caCert);
          assert.equal(await serverFingerprint(running.port, ca), fingerprint(first.cert, pki));
        } finally {
          await running.close();
        }
      } finally {
        dir.remove();
      }
    });
  });
});
