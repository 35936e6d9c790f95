/**
 * The crlfile check on its own (transport/crl.ts): CRLs made with openssl, signed with
 * the algorithms OpenSSL's `ca` offers (ECDSA from TestPki; RSA with SHA-384 and RSA-PSS
 * here), dates judged at a chosen time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrlFailure, RevocationCheck, parseCrlPem } from '../../src/transport/crl.ts';
import { certificateParts } from '../../src/transport/der.ts';
import type { CertificatePair } from '../helpers/certs.ts';
import { TestPki, opensslSkip } from '../helpers/certs.ts';

const DAY = 86_400_000;

describe('RevocationCheck', opensslSkip(), () => {
  let pki: TestPki;
  let good: CertificatePair;
  let revoked: CertificatePair;
  let ca: X509Certificate;

  before(() => {
    pki = TestPki.create('/C=GB/O=Test Org/CN=unit CA');
    good = pki.client('/CN=good');
    revoked = pki.client('/CN=revoked');
    pki.revoke(revoked, 'keyCompromise');
    pki.revoke(pki.client('/CN=another'));
    ca = new X509Certificate(pki.read(pki.caCert));
  });
  after(() => {
    pki.remove();
  });

  const cert = (pair: CertificatePair): X509Certificate => new X509Certificate(pki.read(pair.cert));

  test('reads issuer, dates and every revoked serial of each CRL in a file', () => {
    const text = pki.read(pki.crl('a.pem')) + pki.read(pki.crl('b.pem'));
    const lists = parseCrlPem(text);
    assert.equal(lists.length, 2);
    const first = lists[0];
    assert.ok(first !== undefined);
    assert.equal(first.revoked.size, 2);
    assert.ok(first.revoked.has(certificateParts(cert(revoked)).serial.toString('hex')));
    const now = Date.now();
    assert.ok(Math.abs(first.thisUpdate.getTime() - now) < 60_000);
    assert.ok(Math.abs((first.nextUpdate?.getTime() ?? 0) - (now + 30 * DAY)) < 60_000);
  });

  test('good, revoked, and the dates as OpenSSL judges them', () => {
    const check = new RevocationCheck(parseCrlPem(pki.read(pki.crl())), [ca]);
    const now = new Date();
    assert.equal(check.check(cert(good), [], now), null);
    assert.equal(check.check(cert(revoked), [], now), CrlFailure.Revoked);
    assert.equal(
      check.check(cert(good), [], new Date(now.getTime() + 31 * DAY)),
      CrlFailure.Expired,
    );
    assert.equal(
      check.check(cert(good), [], new Date(now.getTime() - DAY)),
      CrlFailure.NotYetValid,
    );
  });

  test('a certificate whose issuer has no CRL in the file: "unable to get certificate CRL"', () => {
    const other = TestPki.create('/CN=other CA');
    try {
      const check = new RevocationCheck(parseCrlPem(pki.read(other.crl())), [ca]);
      assert.equal(check.check(cert(good), [], new Date()), CrlFailure.NoCrl);
    } finally {
      other.remove();
    }
  });

  test('issuer names compare as X509_NAME_cmp does: case and spaces folded', () => {
    // The same CA name with other case and spacing, from another key: matched by name,
    // then refused by its signature.
    const other = TestPki.create('/C=gb/O=test  org/CN=UNIT ca');
    try {
      const check = new RevocationCheck(parseCrlPem(pki.read(other.crl())), [ca]);
      assert.equal(check.check(cert(good), [], new Date()), CrlFailure.SignatureFailure);
    } finally {
      other.remove();
    }
  });

  for (const [name, sigopts] of [
    ['RSA with SHA-384', ['-md', 'sha384']],
    [
      'RSA-PSS',
      ['-md', 'sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
    ],
  ] as const) {
    test(`CRLs signed with ${name} verify`, () => {
      const dir = pki.dir;
      const run = (args: readonly string[]): void => {
        execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      };
      const tag = name.replace(/\W/g, '');
      run([
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${tag}.key`,
        '-out',
        `${tag}.crt`,
        '-days',
        '2',
        '-subj',
        `/CN=${tag} CA`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ]);
      writeFileSync(join(dir, `${tag}.idx`), '');
      writeFileSync(
        join(dir, `${tag}.cnf`),
        [
          '[ ca ]',
          'default_ca = c',
          '[ c ]',
          `database = ${join(dir, `${tag}.idx`)}`,
          'default_md = sha256',
          'default_crl_days = 1',
          `certificate = ${join(dir, `${tag}.crt`)}`,
          `private_key = ${join(dir, `${tag}.key`)}`,
          '',
        ].join('\n'),
      );
      run([
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${tag}-leaf.key`,
        '-out',
        `${tag}-leaf.csr`,
        '-subj',
        '/CN=leaf',
      ]);
      run([
        'x509',
        '-req',
        '-in',
        `${tag}-leaf.csr`,
        '-CA',
        `${tag}.crt`,
        '-CAkey',
        `${tag}.key`,
        '-CAcreateserial',
        '-out',
        `${tag}-leaf.crt`,
        '-days',
        '2',
      ]);
      run(['ca', '-config', `${tag}.cnf`, '-revoke', `${tag}-leaf.crt`]);
      run(['ca', '-config', `${tag}.cnf`, '-gencrl', ...sigopts, '-out', `${tag}-crl.pem`]);
      const issuer = new X509Certificate(pki.read(join(dir, `${tag}.crt`)));
      const leaf = new X509Certificate(pki.read(join(dir, `${tag}-leaf.crt`)));
      const check = new RevocationCheck(parseCrlPem(pki.read(join(dir, `${tag}-crl.pem`))), [
        issuer,
      ]);
      assert.equal(check.check(leaf, [], new Date()), CrlFailure.Revoked);
      // The signature is what decides: one changed byte and the CRL counts for nothing.
      const tampered = check.lists.map((list) => {
        const signature = Buffer.from(list.signature);
        signature[10] = (signature[10] ?? 0) ^ 1;
        return { ...list, signature };
      });
      assert.equal(
        new RevocationCheck(tampered, [issuer]).check(leaf, [], new Date()),
        CrlFailure.SignatureFailure,
      );
    });
  }
});
