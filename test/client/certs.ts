/**
 * Test certificates made with the openssl command line: a CA, a server certificate for
 * "localhost" (not for 127.0.0.1, so host name checks can be seen failing), a client
 * certificate, and a second, unrelated CA. Written once per process into a temporary
 * directory that is removed at exit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath, trackTempDir } from '../helpers/children.ts';

export interface TestCertificates {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly otherCaCert: string;
}

let made: TestCertificates | null = null;

export const opensslPath = findOnPath('openssl');

function openssl(dir: string, args: readonly string[]): void {
  execFileSync(opensslPath ?? 'openssl', args, { cwd: dir, stdio: 'ignore' });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  ]);
}

function makeSigned(dir: string, name: string, cn: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  ]);
}

export function testCertificates(): TestCertificates {
  if (made !== null) return made;
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-certs-')));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeSigned(
    dir,
    'server',
    'localhost',
    'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  makeSigned(dir, 'client', 'test-client', 'extendedKeyUsage=clientAuth\n');
  made = {
    dir,
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    otherCaCert: join(dir, 'other-ca.crt'),
  };
  return made;
}
