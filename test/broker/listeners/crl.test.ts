/**
 * `crlfile` as Mosquitto 2.0.22 checks it (X509_V_FLAG_CRL_CHECK): only the client
 * certificate is looked up, in its issuer's CRL. The PKI is Mosquitto's test one in shape
 * (test/ssl: a root CA, a signing CA under it that issues the clients, a cafile holding
 * both, a crlfile holding the signing CA's CRL only), made here with openssl.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateWatchTiming } from '../../../src/broker/certificate-watcher.ts';
import type { CertificatePair } from '../../helpers/certs.ts';
import { TestPki, opensslSkip } from '../../helpers/certs.ts';
import { waitFor } from '../../helpers/broker.ts';
import type { ListenerBroker } from './listener-helpers.ts';
import {
  connectOrFail,
  serverTls,
  startListenerBroker,
  tlsClientOptions,
  tryConnect,
} from './listener-helpers.ts';

describe('crlfile', opensslSkip(), () => {
  let root: TestPki;
  let signing: TestPki;
  let server: CertificatePair;
  let good: CertificatePair;
  let revoked: CertificatePair;
  /** Root and signing CA: Mosquitto's all-ca.crt. */
  let cafile: string;
  /** The signing CA's CRL, listing `revoked`: Mosquitto's crl.pem. */
  let crlfile: string;

  before(() => {
    root = TestPki.create('/CN=crl test root CA');
    signing = root.intermediate('/O=mosquitto-ts/CN=crl test signing CA');
    server = root.server();
    good = signing.client('/CN=good client');
    revoked = signing.client('/CN=revoked client');
    signing.revoke(revoked);
    crlfile = signing.crl();
    cafile = join(root.dir, 'all-ca.crt');
    writeFileSync(cafile, root.read(root.caCert) + signing.read(signing.caCert));
  });
  after(() => {
    signing.remove();
    root.remove();
  });

  function start(crl: string, reloadOnChange = false): Promise<ListenerBroker> {
    return startListenerBroker({
      tls: serverTls(server, { cafile, requireCertificate: true, crlfile: crl, reloadOnChange }),
    });
  }

  async function connects(running: ListenerBroker, client: CertificatePair): Promise<boolean> {
    const outcome = await tryConnect(
      `mqtts://localhost:${running.port}`,
      tlsClientOptions(root.caCert, client),
    );
    if (outcome.kind === 'connected') await outcome.client.endAsync();
    return outcome.kind === 'connected';
  }

  /**
   * A refusal is logged as Mosquitto 2.0.22 logs it (seen with these certificates): a
   * failed verification, after OpenSSL's ASN.1 error when a signature did not verify.
   */
  async function assertRefusalLogged(
    running: ListenerBroker,
    openssl = ['error:0A000086:SSL routines::certificate verify failed'],
  ): Promise<void> {
    await waitFor(() => running.lines().some((l) => l.startsWith('Client <unknown>')));
    const lines = running.lines().slice(-2 - openssl.length);
    assert.match(lines[0] ?? '', /^New connection from 127\.0\.0\.1:\d+ on port \d+\.$/);
    assert.deepEqual(lines.slice(1), [
      ...openssl.map((error, i) => `OpenSSL Error[${String(i)}]: ${error}`),
      'Client <unknown> disconnected: Protocol error.',
    ]);
  }

  test("a good certificate with only its issuing CA's CRL is accepted (08-ssl-connect-cert-auth-crl)", async () => {
    const running = await start(crlfile);
    try {
      assert.equal(await connects(running, good), true);
    } finally {
      await running.close();
    }
  });

  test('a revoked certificate is refused before any MQTT, logged as Mosquitto does', async () => {
    const running = await start(crlfile);
    try {
      assert.equal(await connects(running, revoked), false);
      await assertRefusalLogged(running);
      assert.ok(!running.lines().some((l) => l.startsWith('New client connected')));
    } finally {
      await running.close();
    }
  });

  test('no CRL from the issuer (only the root CA\'s): refused, "unable to get certificate CRL"', async () => {
    const running = await start(root.crl('root-crl.pem'));
    try {
      assert.equal(await connects(running, good), false);
      await assertRefusalLogged(running);
    } finally {
      await running.close();
    }
  });

  for (const [name, dates] of [
    [
      'expired (nextUpdate passed)',
      { lastUpdate: '20200101000000Z', nextUpdate: '20200201000000Z' },
    ],
    [
      'not yet valid (thisUpdate ahead)',
      { lastUpdate: '20990101000000Z', nextUpdate: '20990201000000Z' },
    ],
  ] as const) {
    test(`a CRL that is ${name} refuses even a good certificate`, async () => {
      const running = await start(signing.crl(`dated-${dates.lastUpdate}.pem`, dates));
      try {
        assert.equal(await connects(running, good), false);
        await assertRefusalLogged(running);
      } finally {
        await running.close();
      }
    });
  }

  test('a CRL with the issuer\'s name but signed by another key refuses ("CRL signature failure")', async () => {
    const impostor = TestPki.create('/O=mosquitto-ts/CN=crl test signing CA');
    try {
      const running = await start(impostor.crl('forged.pem'));
      try {
        assert.equal(await connects(running, good), false);
        await assertRefusalLogged(running, [
          'error:06880006:asn1 encoding routines::EVP lib',
          'error:0A000086:SSL routines::certificate verify failed',
        ]);
      } finally {
        await running.close();
      }
    } finally {
      impostor.remove();
    }
  });

  test("several CRLs in the file: the issuer's is found wherever it is", async () => {
    const both = join(signing.dir, 'root-then-signing.pem');
    writeFileSync(both, readFileSync(root.crl('root-crl-2.pem'), 'utf8') + signing.read(crlfile));
    const running = await start(both);
    try {
      assert.equal(await connects(running, good), true);
      assert.equal(await connects(running, revoked), false);
    } finally {
      await running.close();
    }
  });

  test('SIGHUP: a certificate revoked since is refused to new connections; connected clients stay', async () => {
    const later = signing.client('/CN=revoked later');
    const live = join(signing.dir, 'live-crl.pem');
    copyFileSync(crlfile, live);
    const running = await start(live);
    try {
      const url = `mqtts://localhost:${running.port}`;
      const connected = await connectOrFail(url, tlsClientOptions(root.caCert, later));
      signing.revoke(later);
      copyFileSync(signing.crl('after-revocation.pem'), live);
      running.broker.reload(running.broker.config);
      assert.equal(await connects(running, later), false);
      assert.equal(await connects(running, good), true);
      await connected.publishAsync('still/here', 'yes');
      assert.ok(connected.connected);
      await connected.endAsync();
    } finally {
      await running.close();
    }
  });

  test('tls_reload_on_change: a new CRL on disk refuses the certificates it revokes', async () => {
    const saved = { ...certificateWatchTiming };
    Object.assign(certificateWatchTiming, { intervalMs: 20, settleMs: 40 });
    const later = signing.client('/CN=revoked while watched');
    const live = join(signing.dir, 'watched-crl.pem');
    copyFileSync(crlfile, live);
    try {
      const running = await start(live, true);
      try {
        assert.equal(await connects(running, later), true);
        signing.revoke(later);
        copyFileSync(signing.crl('watched-after.pem'), live);
        await waitFor(() =>
          running.lines().some((l) => l.startsWith('TLS certificate files changed')),
        );
        assert.equal(await connects(running, later), false);
      } finally {
        await running.close();
      }
    } finally {
      Object.assign(certificateWatchTiming, saved);
    }
  });
});
