/**
 * OCSP stapling on the client side (`bridge_require_ocsp`, TlsOptions.requireOcsp):
 * real responses from `openssl ocsp` over a CA database, stapled by a Node TLS server
 * through its 'OCSPRequest' event, checked by startTls() over real TLS on 127.0.0.1; and
 * checkOcspResponse() on its own for what needs a clock or hand-made bytes. Expired and
 * wrongly signed responses are openssl's, re-dated or re-signed here (tlv/resign below).
 * Every refusal is asserted by its exact text, so a refusal for another reason fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  sign,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { openStream, resolveEndpoint } from '../../src/client/endpoint.ts';
import { MqttClientError } from '../../src/client/errors.ts';
import { ProtocolVersion } from '../../src/protocol/constants.ts';
import { checkOcspResponse } from '../../src/transport/ocsp.ts';
import { startTls } from '../../src/transport/tls-client.ts';
import type { TlsVersion } from '../../src/transport/tls-client.ts';
import type { CertificatePair } from '../helpers/certs.ts';
import { TestPki, opensslSkip } from '../helpers/certs.ts';

const VERIFY_FAILED = 'OCSP: response verification failed (error: 0)';
const EXPIRED = 'OCSP: OCSP response has expired';
const NOT_NAMED = 'OCSP: response does not name the server certificate';

// ---------------------------------------------------------------------------------------
// Just enough DER to take a response apart and put it back together re-signed.

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

/** The content of one whole element. */
function contentOf(element: Buffer): Buffer {
  const first = element[1] ?? 0;
  return element.subarray(first < 0x80 ? 2 : 2 + (first & 0x7f));
}

/** The whole elements one after another in `content`. */
function elements(content: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < content.length;) {
    const first = content[offset + 1] ?? 0;
    const header = first < 0x80 ? 2 : 2 + (first & 0x7f);
    let length = first;
    if (first >= 0x80) length = content.readUIntBE(offset + 2, first & 0x7f);
    out.push(content.subarray(offset, offset + header + length));
    offset += header + length;
  }
  return out;
}

/**
 * `response` (openssl's, ecdsa-with-SHA256) with its ResponseData changed by `edit` and
 * signed again with `key`: the certificates it carries are kept.
 */
function resign(
  response: Buffer,
  key: KeyObject,
  edit: (tbs: Buffer) => Buffer = (tbs) => tbs,
): Buffer {
  const [status, wrapped] = elements(contentOf(response));
  assert.ok(status !== undefined && wrapped !== undefined);
  const [type, octets] = elements(contentOf(contentOf(wrapped)));
  assert.ok(type !== undefined && octets !== undefined);
  const [tbs, algorithm, , ...certs] = elements(contentOf(contentOf(octets)));
  assert.ok(tbs !== undefined && algorithm !== undefined);
  const newTbs = edit(tbs);
  const signature = sign('sha256', newTbs, key);
  const basic = tlv(
    0x30,
    Buffer.concat([
      newTbs,
      algorithm,
      tlv(0x03, Buffer.concat([Buffer.from([0]), signature])),
      ...certs,
    ]),
  );
  return tlv(
    0x30,
    Buffer.concat([status, tlv(0xa0, tlv(0x30, Buffer.concat([type, tlv(0x04, basic)])))]),
  );
}

/** GeneralizedTime text for a date: YYYYMMDDHHMMSSZ. */
function generalized(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * An edit for resign(): producedAt and thisUpdate set to `thisUpdate`, nextUpdate to
 * `nextUpdate` (openssl writes exactly these three GeneralizedTimes for one response).
 */
function redate(thisUpdate: Date, nextUpdate: Date): (tbs: Buffer) => Buffer {
  return (tbs) => {
    const out = Buffer.from(tbs);
    const at: number[] = [];
    for (let i = 0; i + 17 <= out.length; i++) {
      if (out[i] === 0x18 && out[i + 1] === 0x0f) {
        if (/^\d{14}Z$/.test(out.toString('latin1', i + 2, i + 17))) at.push(i + 2);
      }
    }
    assert.equal(at.length, 3, 'producedAt, thisUpdate, nextUpdate');
    const times = [thisUpdate, thisUpdate, nextUpdate];
    at.forEach((offset, i) => out.write(generalized(times[i] as Date), offset, 'latin1'));
    return out;
  };
}

// ---------------------------------------------------------------------------------------
// A TLS server that staples what it is given, and startTls() against it.

/** Node staples nothing when the callback's response is falsy. */
const NO_STAPLE = null as unknown as Buffer;

interface Attempt {
  /** 'connected', or the error's message. */
  readonly result: string;
  /** Whether the client asked for a stapled response (the server saw status_request). */
  readonly requested: boolean;
}

interface StaplingServer {
  readonly port: number;
  /** Whether a client asked for a stapled response (status_request). */
  readonly requested: () => boolean;
  /** Closes the listener and every connection it has. */
  readonly close: () => Promise<void>;
}

/** A TLS server on 127.0.0.1 presenting `server`, stapling `staple` when asked to. */
async function staplingServer(
  server: CertificatePair,
  staple: Buffer | null,
  tlsVersion?: TlsVersion,
): Promise<StaplingServer> {
  let requested = false;
  const sockets = new Set<net.Socket>();
  const listener = tls.createServer({
    cert: readFileSync(server.cert),
    key: readFileSync(server.key),
    ...(tlsVersion === undefined ? {} : { maxVersion: tlsVersion }),
  });
  listener.on('OCSPRequest', (_certificate, _issuer, callback) => {
    requested = true;
    callback(null, staple ?? NO_STAPLE);
  });
  listener.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  listener.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as AddressInfo).port,
    requested: () => requested,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}

/** startTls() with requireOcsp (unless turned off) against a stapling server. */
async function attempt(
  ca: string,
  server: CertificatePair,
  staple: Buffer | null,
  options: { requireOcsp?: boolean; tlsVersion?: TlsVersion } = {},
): Promise<Attempt> {
  const listener = await staplingServer(server, staple, options.tlsVersion);
  try {
    const socket = net.connect(listener.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    try {
      const secure = await startTls(socket, {
        servername: 'localhost',
        ca: [ca],
        ...(options.requireOcsp === false ? {} : { requireOcsp: true }),
        signal: AbortSignal.timeout(5000),
      });
      const version = secure.getProtocol();
      secure.destroy();
      if (options.tlsVersion !== undefined) assert.equal(version, options.tlsVersion);
      return { result: 'connected', requested: listener.requested() };
    } catch (error) {
      return { result: (error as Error).message, requested: listener.requested() };
    }
  } finally {
    await listener.close();
  }
}

describe('OCSP stapling (requireOcsp)', opensslSkip(), () => {
  let pki: TestPki;
  let ca: string;
  let issuer: X509Certificate;
  let caKey: KeyObject;
  /** In the CA database as valid. */
  let good: CertificatePair;
  /** Revoked for keyCompromise, and revoked without a reason. */
  let revoked: CertificatePair;
  let revokedNoReason: CertificatePair;
  /** Not in the database: openssl answers "unknown". */
  let unlisted: CertificatePair;
  let responder: CertificatePair;
  let goodResponse: Buffer;
  const unrelatedKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

  before(() => {
    pki = TestPki.create();
    ca = pki.read(pki.caCert);
    issuer = new X509Certificate(ca);
    caKey = createPrivateKey(pki.read(pki.caKey));
    good = pki.server('good');
    pki.markValid(good);
    revoked = pki.server('revoked');
    pki.revoke(revoked, 'keyCompromise');
    revokedNoReason = pki.server('revoked-no-reason');
    pki.revoke(revokedNoReason);
    unlisted = pki.server('unlisted');
    responder = pki.ocspResponder();
    goodResponse = pki.ocspResponse(good);
  });
  after(() => {
    pki.remove();
  });

  const certOf = (pair: CertificatePair): X509Certificate =>
    new X509Certificate(readFileSync(pair.cert));

  describe('over TLS', () => {
    test('a good response signed by the issuer: connects, having asked for it', async () => {
      assert.deepEqual(await attempt(ca, good, goodResponse), {
        result: 'connected',
        requested: true,
      });
    });

    test('a good response from a delegated responder: connects', async () => {
      const response = pki.ocspResponse(good, { signer: responder });
      assert.equal((await attempt(ca, good, response)).result, 'connected');
    });

    test('TLS 1.2: good connects, revoked is refused', async () => {
      assert.equal(
        (await attempt(ca, good, goodResponse, { tlsVersion: 'TLSv1.2' })).result,
        'connected',
      );
      assert.equal(
        (await attempt(ca, revoked, pki.ocspResponse(revoked), { tlsVersion: 'TLSv1.2' })).result,
        'OCSP: SSL certificate revocation reason: keyCompromise (1)',
      );
    });

    test('no stapled response: refused', async () => {
      assert.deepEqual(await attempt(ca, good, null), {
        result: 'OCSP: no response',
        requested: true,
      });
    });

    test('revoked: refused, with the reason as Mosquitto logs it', async () => {
      assert.equal(
        (await attempt(ca, revoked, pki.ocspResponse(revoked))).result,
        'OCSP: SSL certificate revocation reason: keyCompromise (1)',
      );
      assert.equal(
        (await attempt(ca, revokedNoReason, pki.ocspResponse(revokedNoReason))).result,
        'OCSP: SSL certificate revocation reason: (UNKNOWN) (-1)',
      );
    });

    test('unknown to the responder: refused', async () => {
      assert.equal(
        (await attempt(ca, unlisted, pki.ocspResponse(unlisted))).result,
        'OCSP: SSL certificate status: unknown (2)',
      );
    });

    test('a good response about another certificate of the same CA: refused', async () => {
      assert.equal((await attempt(ca, revoked, goodResponse)).result, NOT_NAMED);
    });

    test('signed by an unrelated responder: refused', async () => {
      const stranger = pki.selfSigned('/CN=stranger');
      const response = pki.ocspResponse(good, { signer: stranger });
      assert.equal((await attempt(ca, good, response)).result, VERIFY_FAILED);
    });

    test('naming the issuer but signed with an unrelated key: refused', async () => {
      const response = resign(goodResponse, unrelatedKey);
      assert.equal((await attempt(ca, good, response)).result, VERIFY_FAILED);
    });

    test('expired (nextUpdate a day past): refused', async () => {
      const day = 86_400_000;
      const response = resign(
        goodResponse,
        caKey,
        redate(new Date(Date.now() - 2 * day), new Date(Date.now() - day)),
      );
      assert.equal((await attempt(ca, good, response)).result, EXPIRED);
    });

    test('without requireOcsp nothing is asked for or checked', async () => {
      assert.deepEqual(
        await attempt(ca, revoked, pki.ocspResponse(revoked), { requireOcsp: false }),
        { result: 'connected', requested: false },
      );
    });
  });

  describe('checkOcspResponse', () => {
    const now = (): Date => new Date();
    const minutes = (n: number): Date => new Date(Date.now() + n * 60_000);
    const day = 24 * 60;

    test('accepts good responses in their forms: by name, by key, SHA-256 CertID', () => {
      const cert = certOf(good);
      for (const options of [
        {},
        { byKey: true },
        { certIdHash: 'sha256' as const },
        { signer: responder },
        { signer: responder, byKey: true },
        { noCerts: true },
      ]) {
        assert.equal(
          checkOcspResponse(pki.ocspResponse(good, options), cert, issuer, now()),
          null,
          JSON.stringify(options),
        );
      }
    });

    test('currency: 5 minutes of leeway either side, as OCSP_check_validity(…, 300, -1)', () => {
      const cert = certOf(good);
      // nextUpdate is a day after thisUpdate (-ndays 1), both about now.
      assert.equal(checkOcspResponse(goodResponse, cert, issuer, minutes(day + 4)), null);
      assert.equal(checkOcspResponse(goodResponse, cert, issuer, minutes(day + 6)), EXPIRED);
      assert.equal(checkOcspResponse(goodResponse, cert, issuer, minutes(-4)), null);
      assert.equal(checkOcspResponse(goodResponse, cert, issuer, minutes(-6)), EXPIRED);
      // nextUpdate before thisUpdate.
      const backwards = resign(goodResponse, caKey, redate(minutes(0), minutes(-1)));
      assert.equal(checkOcspResponse(backwards, cert, issuer, now()), EXPIRED);
      // thisUpdate a day in the future.
      const future = resign(goodResponse, caKey, redate(minutes(day), minutes(2 * day)));
      assert.equal(checkOcspResponse(future, cert, issuer, now()), EXPIRED);
      // Re-signing alone changes nothing: the refusals above are the dates'.
      assert.equal(checkOcspResponse(resign(goodResponse, caKey), cert, issuer, now()), null);
    });

    test('signers it refuses', () => {
      const cert = certOf(good);
      const notForOcsp = pki.ocspResponder('not-an-ocsp-responder', { ocspSigning: false });
      // A certificate of the issuer without the OCSP Signing extended key usage.
      assert.equal(
        checkOcspResponse(pki.ocspResponse(good, { signer: notForOcsp }), cert, issuer, now()),
        VERIFY_FAILED,
      );
      // A delegated responder whose certificate has expired.
      const expired = pki.ocspResponder('expired-responder', { expired: true });
      assert.equal(
        checkOcspResponse(pki.ocspResponse(good, { signer: expired }), cert, issuer, now()),
        VERIFY_FAILED,
      );
      // A delegated responder whose certificate is not in the response: no signer.
      assert.equal(
        checkOcspResponse(
          pki.ocspResponse(good, { signer: responder, noCerts: true }),
          cert,
          issuer,
          now(),
        ),
        VERIFY_FAILED,
      );
      // Another CA's responder, speaking for its own certificate.
      const other = TestPki.create('/CN=another CA');
      try {
        const theirs = other.server('theirs');
        other.markValid(theirs);
        const response = other.ocspResponse(theirs);
        assert.equal(checkOcspResponse(response, cert, issuer, now()), VERIFY_FAILED);
        // ...and the same response is fine for the certificate and issuer it is about.
        assert.equal(
          checkOcspResponse(
            response,
            new X509Certificate(readFileSync(theirs.cert)),
            new X509Certificate(readFileSync(other.caCert)),
            now(),
          ),
          null,
        );
      } finally {
        other.remove();
      }
      // Responders with the OCSP Signing usage, issued by other CAs: one named otherwise,
      // one named as ours (same subject, another key).
      for (const subject of ['/CN=yet another CA', undefined]) {
        const foreign = TestPki.create(subject);
        try {
          const response = pki.ocspResponse(good, { signer: foreign.ocspResponder() });
          assert.equal(checkOcspResponse(response, cert, issuer, now()), VERIFY_FAILED, subject);
        } finally {
          foreign.remove();
        }
      }
      // Signed by the issuer, but its CertID names another issuer (issuerKeyHash changed).
      const spki = issuer.publicKey.export({ type: 'spki', format: 'der' });
      // A P-256 key's bits: the last 65 bytes of its SubjectPublicKeyInfo.
      const keyHash = createHash('sha1')
        .update(spki.subarray(spki.length - 65))
        .digest();
      const otherIssuer = resign(goodResponse, caKey, (tbs) => {
        const out = Buffer.from(tbs);
        const at = out.indexOf(keyHash);
        assert.ok(at > 0, 'issuerKeyHash found');
        out.writeUInt8(out.readUInt8(at) ^ 1, at);
        return out;
      });
      assert.equal(checkOcspResponse(otherIssuer, cert, issuer, now()), VERIFY_FAILED);
      // One byte of the signed data changed after signing.
      const tampered = Buffer.from(goodResponse);
      const serial = Buffer.from(cert.serialNumber, 'hex');
      const at = tampered.indexOf(serial);
      assert.ok(at > 0);
      const last = at + serial.length - 1;
      tampered.writeUInt8(tampered.readUInt8(last) ^ 1, last);
      assert.equal(checkOcspResponse(tampered, cert, issuer, now()), VERIFY_FAILED);
    });

    test('what is not a successful basic response', () => {
      const cert = certOf(good);
      assert.equal(checkOcspResponse(null, cert, issuer, now()), 'OCSP: no response');
      assert.equal(checkOcspResponse(Buffer.alloc(0), cert, issuer, now()), 'OCSP: no response');
      assert.equal(
        checkOcspResponse(Buffer.from('not DER'), cert, issuer, now()),
        'OCSP: invalid response',
      );
      assert.equal(
        checkOcspResponse(goodResponse.subarray(0, goodResponse.length - 1), cert, issuer, now()),
        'OCSP: invalid response',
      );
      // OCSPResponse { responseStatus tryLater } without responseBytes.
      const tryLater = tlv(0x30, tlv(0x0a, Buffer.from([3])));
      assert.equal(
        checkOcspResponse(tryLater, cert, issuer, now()),
        'OCSP: invalid status: trylater (3)',
      );
      const unauthorized = tlv(0x30, tlv(0x0a, Buffer.from([6])));
      assert.equal(
        checkOcspResponse(unauthorized, cert, issuer, now()),
        'OCSP: invalid status: unauthorized (6)',
      );
      // Successful, but with no responseBytes.
      const empty = tlv(0x30, tlv(0x0a, Buffer.from([0])));
      assert.equal(checkOcspResponse(empty, cert, issuer, now()), 'OCSP: invalid response');
    });
  });

  describe('through the client library (TlsOptions.requireOcsp)', () => {
    /** openStream() with TlsOptions.requireOcsp: 'connected' or the error's code and text. */
    async function open(
      server: CertificatePair,
      staple: Buffer,
      webSocket = false,
    ): Promise<string> {
      const listener = await staplingServer(server, staple);
      try {
        const { endpoint } = resolveEndpoint({
          host: '127.0.0.1',
          port: listener.port,
          tls: { caFile: pki.caCert, requireOcsp: true },
          ...(webSocket ? { webSocket: true } : {}),
        });
        const stream = await openStream(endpoint, ProtocolVersion.V311, AbortSignal.timeout(5000));
        stream.destroy();
        return 'connected';
      } catch (error) {
        assert.ok(error instanceof MqttClientError);
        return `${error.code}: ${error.message}`;
      } finally {
        await listener.close();
      }
    }

    test('good connects; revoked fails as a TLS error with the reason', async () => {
      assert.equal(await open(good, goodResponse), 'connected');
      assert.equal(
        await open(revoked, pki.ocspResponse(revoked)),
        'ERR_MQTT_TLS: OCSP: SSL certificate revocation reason: keyCompromise (1)',
      );
    });

    test('over WebSockets it is refused rather than silently skipped', async () => {
      assert.equal(
        await open(good, goodResponse, true),
        'ERR_MQTT_INVALID_ARGUMENT: OCSP stapling is not supported over WebSockets',
      );
    });
  });
});
