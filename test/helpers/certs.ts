/**
 * Certificates made by the test that needs them: a throw-away certificate authority in a
 * temporary directory, server and client certificates it issues, revocations and the CRL
 * that lists them, all with the `openssl` command (EC P-256 keys: fast to make).
 *
 *   const pki = TestPki.create();
 *   const server = pki.server();                 // CN=localhost, SAN localhost/127.0.0.1/::1
 *   const alice = pki.client('/O=Org/CN=alice');
 *   pki.revoke(alice);
 *   const crl = pki.crl();
 *   const signing = pki.intermediate('/CN=signing CA');   // a CA this one issued
 *
 * and OCSP responses from the CA database (index.txt) with `openssl ocsp`:
 *
 *   pki.markValid(server);
 *   const der = pki.ocspResponse(server);                      // signed by the CA
 *   const der2 = pki.ocspResponse(server, { signer: pki.ocspResponder() });
 */
import type { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath, removeTempDir, trackTempDir } from './children.ts';

/** Paths of a certificate and its private key (PEM). */
export interface CertificatePair {
  readonly cert: string;
  readonly key: string;
}

export interface OcspResponseOptions {
  /** Who signs (`-rsigner`/`-rkey`); default the CA. */
  readonly signer?: CertificatePair;
  /** Validity: nextUpdate this many days after thisUpdate (`-ndays`); default 1. */
  readonly days?: number;
  /** Identify the responder by key hash instead of by name (`-resp_key_id`). */
  readonly byKey?: boolean;
  /** CertID hash: sha1 (OpenSSL's default) or sha256. */
  readonly certIdHash?: 'sha1' | 'sha256';
  /** Leave the signer's certificate out of the response (`-resp_no_certs`). */
  readonly noCerts?: boolean;
}

export const OPENSSL_SKIP_MESSAGE = 'needs the openssl command: apt-get install -y openssl';

const opensslPath = findOnPath('openssl');

/** `{ skip }` for describe/test when openssl is missing (a failure in CI). */
export function opensslSkip(): { skip?: string } {
  if (opensslPath !== null || process.env.CI === 'true') return {};
  return { skip: OPENSSL_SKIP_MESSAGE };
}

function openssl(args: readonly string[], cwd: string): void {
  if (opensslPath === null) throw new Error(OPENSSL_SKIP_MESSAGE);
  execFileSync(opensslPath, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export class TestPki {
  readonly dir: string;
  /** The CA certificate: what `cafile` points at. */
  readonly caCert: string;
  readonly caKey: string;
  #serial = 0;
  #responses = 0;

  private constructor(dir: string) {
    this.dir = dir;
    this.caCert = join(dir, 'ca.crt');
    this.caKey = join(dir, 'ca.key');
  }

  /** A new CA in a new temporary directory (removed at exit, or by remove()). */
  static create(caSubject = '/CN=mosquitto-ts test CA'): TestPki {
    const pki = new TestPki(trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-pki-'))));
    openssl(
      [
        'req',
        '-x509',
        ...KEY_ARGS,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '30',
        '-subj',
        caSubject,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      pki.dir,
    );
    pki.#writeDatabase();
    return pki;
  }

  /**
   * An intermediate CA issued by this one, in its own directory: its certificates chain
   * up to this CA, and its crl() is signed by it alone.
   */
  intermediate(caSubject: string): TestPki {
    const pki = new TestPki(trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-pki-'))));
    const ext = join(pki.dir, 'ca.ext');
    writeFileSync(
      ext,
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n',
    );
    openssl(
      ['req', ...KEY_ARGS, '-keyout', 'ca.key', '-out', 'ca.csr', '-subj', caSubject],
      pki.dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'ca.csr',
        '-CA',
        this.caCert,
        '-CAkey',
        this.caKey,
        '-CAcreateserial',
        '-out',
        'ca.crt',
        '-days',
        '30',
        '-extfile',
        ext,
      ],
      pki.dir,
    );
    pki.#writeDatabase();
    return pki;
  }

  /** The `openssl ca` configuration and database: for revoke(), crl() and OCSP. */
  #writeDatabase(): void {
    const dir = this.dir;
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'crlnumber'), '01\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ ca ]',
        'default_ca = test_ca',
        '[ test_ca ]',
        `database = ${join(dir, 'index.txt')}`,
        `crlnumber = ${join(dir, 'crlnumber')}`,
        'default_md = sha256',
        // Several test servers share CN=localhost.
        'unique_subject = no',
        // For `openssl ca` issuing (certificates with chosen dates).
        `new_certs_dir = ${dir}`,
        `serial = ${join(dir, 'ca-serial')}`,
        'policy = policy_any',
        'default_crl_days = 30',
        `certificate = ${this.caCert}`,
        `private_key = ${this.caKey}`,
        '[ policy_any ]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
  }

  /**
   * A server certificate for `hosts` (CN = the first; every one in subjectAltName, so that
   * both mosquitto_pub's and Node's host name checks pass).
   */
  server(
    name = 'server',
    hosts: readonly string[] = ['localhost', '127.0.0.1', '::1'],
  ): CertificatePair {
    const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    return this.#issue(name, `/CN=${hosts[0] ?? 'localhost'}`, [
      `subjectAltName=${san}`,
      'extendedKeyUsage=serverAuth',
    ]);
  }

  /** A client certificate with this subject (`/C=GB/O=Org/CN=alice`; `-utf8` is on). */
  client(subject: string, name = `client-${String(this.#serial + 1)}`): CertificatePair {
    return this.#issue(name, subject, ['extendedKeyUsage=clientAuth']);
  }

  /** A self-signed certificate that this CA did not issue. */
  selfSigned(subject: string, name = `self-${String(this.#serial + 1)}`): CertificatePair {
    this.#serial++;
    const pair = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    openssl(
      [
        'req',
        '-x509',
        ...KEY_ARGS,
        '-utf8',
        '-keyout',
        pair.key,
        '-out',
        pair.cert,
        '-days',
        '30',
        '-subj',
        subject,
      ],
      this.dir,
    );
    return pair;
  }

  /**
   * A delegated OCSP responder certificate issued by this CA: with the OCSP Signing
   * extended key usage unless `ocspSigning` is false; valid for 30 days from now, or in
   * January 2020 when `expired`.
   */
  ocspResponder(
    name = 'ocsp-responder',
    options: { readonly ocspSigning?: boolean; readonly expired?: boolean } = {},
  ): CertificatePair {
    const extensions = [
      options.ocspSigning === false
        ? 'extendedKeyUsage=serverAuth'
        : 'extendedKeyUsage=OCSPSigning',
    ];
    if (options.expired !== true) return this.#issue(name, `/CN=${name}`, extensions);
    // `openssl x509 -req` (3.0) cannot backdate; `openssl ca` can.
    this.#serial++;
    const pair = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, extensions.join('\n') + '\n');
    openssl(
      ['req', ...KEY_ARGS, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${name}`],
      this.dir,
    );
    openssl(
      [
        'ca',
        '-config',
        'ca.cnf',
        '-batch',
        '-notext',
        '-create_serial',
        '-in',
        csr,
        '-out',
        pair.cert,
        '-startdate',
        '20200101000000Z',
        '-enddate',
        '20200201000000Z',
        '-extfile',
        ext,
      ],
      this.dir,
    );
    return pair;
  }

  /** Marks a certificate valid in the CA database (index.txt): OCSP then says "good". */
  markValid(pair: CertificatePair): void {
    openssl(['ca', '-config', 'ca.cnf', '-valid', pair.cert], this.dir);
  }

  /** Marks a certificate revoked (with a CRL reason if given); crl() then lists it. */
  revoke(pair: CertificatePair, reason?: string): void {
    openssl(
      [
        'ca',
        '-config',
        'ca.cnf',
        '-revoke',
        pair.cert,
        ...(reason === undefined ? [] : ['-crl_reason', reason]),
      ],
      this.dir,
    );
  }

  /**
   * The DER OCSP response the CA database gives for `pair` now (`openssl ocsp -index`):
   * good, revoked, or unknown when the certificate is not in index.txt.
   */
  ocspResponse(pair: CertificatePair, options: OcspResponseOptions = {}): Buffer {
    const signer = options.signer ?? { cert: this.caCert, key: this.caKey };
    const out = join(this.dir, `ocsp-${String(++this.#responses)}.der`);
    openssl(
      [
        'ocsp',
        '-index',
        'index.txt',
        '-CA',
        this.caCert,
        '-rsigner',
        signer.cert,
        '-rkey',
        signer.key,
        '-issuer',
        this.caCert,
        // The CertID digest applies to the -cert options after it.
        `-${options.certIdHash ?? 'sha1'}`,
        '-cert',
        pair.cert,
        '-ndays',
        String(options.days ?? 1),
        ...(options.byKey === true ? ['-resp_key_id'] : []),
        ...(options.noCerts === true ? ['-resp_no_certs'] : []),
        '-respout',
        out,
      ],
      this.dir,
    );
    return readFileSync(out);
  }

  /**
   * Writes the current CRL (every revoked certificate) and returns its path. Its
   * thisUpdate is now and nextUpdate 30 days later unless given (YYYYMMDDHHMMSSZ).
   */
  crl(
    name = 'crl.pem',
    dates: { readonly lastUpdate?: string; readonly nextUpdate?: string } = {},
  ): string {
    const path = join(this.dir, name);
    openssl(
      [
        'ca',
        '-config',
        'ca.cnf',
        '-gencrl',
        ...(dates.lastUpdate === undefined ? [] : ['-crl_lastupdate', dates.lastUpdate]),
        ...(dates.nextUpdate === undefined ? [] : ['-crl_nextupdate', dates.nextUpdate]),
        '-out',
        path,
      ],
      this.dir,
    );
    return path;
  }

  /** A file's text (to copy certificates around). */
  read(path: string): string {
    return readFileSync(path, 'utf8');
  }

  remove(): void {
    removeTempDir(this.dir);
  }

  #issue(name: string, subject: string, extensions: readonly string[]): CertificatePair {
    this.#serial++;
    const pair = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, extensions.join('\n') + '\n');
    openssl(
      ['req', ...KEY_ARGS, '-utf8', '-keyout', pair.key, '-out', csr, '-subj', subject],
      this.dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        this.caCert,
        '-CAkey',
        this.caKey,
        '-CAcreateserial',
        '-out',
        pair.cert,
        '-days',
        '30',
        '-extfile',
        ext,
      ],
      this.dir,
    );
    return pair;
  }
}
