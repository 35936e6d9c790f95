/**
 * The TLS transport on its own: the peer facts a connection reports (commonName, the
 * subject as OpenSSL prints it in RFC 2253 form, checked against `openssl x509`), OpenSSL
 * error texts in Mosquitto's form, and what a listener reports for handshakes that fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionHandler } from '../../src/transport/connection.ts';
import type {
  TlsConnection,
  TlsHandshakeFailure,
  TlsServerSettings,
} from '../../src/transport/tls.ts';
import { TlsListener, formatOpensslError, rfc2253Subject } from '../../src/transport/tls.ts';
import type { CertificatePair } from '../helpers/certs.ts';
import { TestPki, opensslSkip } from '../helpers/certs.ts';
import { waitFor } from '../helpers/broker.ts';

/** OpenSSL's own RFC 2253 rendering of a certificate's subject. */
function opensslSubject(path: string): string {
  const out = execFileSync(
    'openssl',
    ['x509', '-in', path, '-noout', '-subject', '-nameopt', 'RFC2253'],
    {
      encoding: 'utf8',
    },
  );
  return out.trim().replace(/^subject=/, '');
}

const SUBJECTS = [
  '/CN=alice',
  '/C=GB/ST=Kent/L=Canterbury/O=Example, Inc/OU=R&D/CN=alice/emailAddress=a@example.com',
  '/O=Quote " and back\\\\slash/CN=élodie',
  '/CN= leading space/O=#hash',
  '/DC=org/DC=example/CN=plus+OU=multi',
  '/CN=a;b<c>d=e',
];

describe('TLS transport', opensslSkip(), () => {
  let pki: TestPki;
  let server: CertificatePair;
  let settings: TlsServerSettings;

  before(() => {
    pki = TestPki.create();
    server = pki.server();
    settings = {
      context: {
        cert: readFileSync(server.cert),
        key: readFileSync(server.key),
        ca: [readFileSync(pki.caCert)],
      },
      requireCertificate: true,
      revocation: null,
      psk: null,
    };
  });
  after(() => {
    pki.remove();
  });

  test('rfc2253Subject matches openssl -nameopt RFC2253', () => {
    for (const subject of SUBJECTS) {
      const pair = pki.client(subject);
      const node = new X509Certificate(readFileSync(pair.cert)).subject;
      assert.equal(rfc2253Subject(node), opensslSubject(pair.cert), subject);
    }
  });

  test('formatOpensslError drops the thread id, function name and source position', () => {
    const error = new Error(
      '80DC665CE57F0000:error:0A0000C7:SSL routines:tls_process_client_certificate:peer did not return a certificate:../deps/openssl/openssl/ssl/statem/statem_srvr.c:3517:\n',
    );
    assert.equal(
      formatOpensslError(error),
      'error:0A0000C7:SSL routines::peer did not return a certificate',
    );
    assert.equal(formatOpensslError(new Error('socket hang up')), null);
  });

  async function listen(
    onConnection: (connection: TlsConnection) => void,
    onFailure: (failure: TlsHandshakeFailure) => void,
    handshakeTimeoutMs = 5000,
  ): Promise<TlsListener> {
    const listener = new TlsListener(
      { port: 0, host: '127.0.0.1', path: null, noDelay: true, handshakeTimeoutMs, tls: settings },
      onConnection,
      onFailure,
    );
    await listener.listen();
    return listener;
  }

  test('a verified connection reports the client certificate and carries bytes', async () => {
    const alice = pki.client('/O=Org/CN=alice');
    const received: Buffer[] = [];
    let connection: TlsConnection | null = null;
    const handler: ConnectionHandler = {
      onData: (chunk) => received.push(chunk),
      onDrain: () => undefined,
      onClose: () => undefined,
    };
    const listener = await listen(
      (c) => {
        connection = c;
        c.setHandler(handler);
      },
      () => undefined,
    );
    try {
      const client = tls.connect({
        port: listener.port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: readFileSync(pki.caCert),
        cert: readFileSync(alice.cert),
        key: readFileSync(alice.key),
      });
      client.write('ping');
      await waitFor(() => received.length > 0);
      const accepted = connection as TlsConnection | null;
      assert.ok(accepted !== null);
      assert.deepEqual(accepted.tlsPeer, {
        certificate: { commonName: 'alice', subject: 'CN=alice,O=Org' },
        pskIdentity: null,
      });
      assert.equal(accepted.remoteAddress, '127.0.0.1');
      assert.equal(accepted.localPort, listener.port);
      const echoed = new Promise<string>((resolve) => {
        client.once('data', (data: Buffer) => {
          resolve(data.toString());
        });
      });
      assert.equal(accepted.write(Buffer.from('pong')), true);
      assert.equal(await echoed, 'pong');
      client.destroy();
    } finally {
      await listener.close();
    }
  });

  test('a client that never finishes the handshake is reported as timed out', async () => {
    const failures: TlsHandshakeFailure[] = [];
    const listener = await listen(
      () => undefined,
      (failure) => failures.push(failure),
      50,
    );
    try {
      const silent = net.connect({ port: listener.port, host: '127.0.0.1' });
      await new Promise((resolve) => silent.once('connect', resolve));
      const localPort = silent.localPort;
      await waitFor(() => failures.length > 0);
      const [failure] = failures;
      assert.ok(failure);
      assert.equal(failure.timedOut, true);
      assert.equal(failure.remoteAddress, '127.0.0.1');
      assert.equal(failure.remotePort, localPort);
      silent.destroy();
    } finally {
      await listener.close();
    }
  });

  test("a plain TCP client is reported with OpenSSL's reason", async () => {
    const failures: TlsHandshakeFailure[] = [];
    const listener = await listen(
      () => undefined,
      (failure) => failures.push(failure),
    );
    try {
      const plain = net.connect({ port: listener.port, host: '127.0.0.1' });
      plain.on('error', () => undefined);
      plain.write(Buffer.from('100c00044d5154540402003c0000', 'hex'));
      await waitFor(() => failures.length > 0);
      const [failure] = failures;
      assert.ok(failure);
      assert.equal(failure.reason, 'error:0A00010B:SSL routines::wrong version number');
      assert.equal(failure.timedOut, false);
      plain.destroy();
    } finally {
      await listener.close();
    }
  });
});
