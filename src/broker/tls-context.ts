/**
 * A listener's TLS settings from its configuration (net.c net__tls_server_ctx,
 * net__tls_load_verify, net__load_certificates): versions, ciphers, DH parameters, the
 * CAs that verify client certificates, the server certificate and key, the CRLs, with
 * Mosquitto's error texts. Every file is read here, so building the settings again is
 * how certificates are reloaded (SIGHUP, or tls_reload_on_change). Loaded only when a
 * listener uses TLS (listeners.ts); what the rest of the broker needs without loading
 * node:tls is in tls-identity.ts.
 */
import type { Buffer } from 'node:buffer';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { RevocationCheck, parseCrlPem } from '../transport/crl.ts';
import type { TlsServerSettings } from '../transport/tls.ts';
import { formatOpensslError } from '../transport/tls.ts';
import type { ListenerConfig, ListenerTlsConfig } from './config/types.ts';

/** A listener whose TLS settings cannot be built; `lines` are what Mosquitto logs. */
export class TlsSetupError extends Error {
  override readonly name = 'TlsSetupError';
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
  }
}

/** The TLS settings of a listener and the files they were read from. */
export interface LoadedTls {
  readonly settings: TlsServerSettings;
  /** certfile, keyfile, cafile, capath, crlfile, dhparamfile: what a change reloads. */
  readonly files: readonly string[];
}

/** Mosquitto's cipher list when `ciphers` is not set (needed for PSK: Node's has !PSK). */
export const MOSQUITTO_DEFAULT_CIPHERS = 'DEFAULT:!aNULL:!eNULL:!LOW:!EXPORT:!SSLv2:@STRENGTH';

/** One PEM CRL of a crlfile. */
const CRL_BLOCK = /-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g;

const TLS_VERSIONS: Readonly<Record<string, tls.SecureVersion>> = {
  'tlsv1.3': 'TLSv1.3',
  'tlsv1.2': 'TLSv1.2',
  'tlsv1.1': 'TLSv1.1',
};

/**
 * Builds the settings, reading every file now. `keyOf` answers PSK lookups (psk_hint
 * listeners). Throws TlsSetupError with Mosquitto's lines.
 */
export function loadTls(
  listener: ListenerConfig,
  keyOf: ((identity: string) => Buffer | null) | null,
): LoadedTls {
  const config = listener.tls;
  if (config == null) throw new TlsSetupError(['Error: Unable to create TLS context.']);
  const context: tls.SecureContextOptions = {};
  const files: string[] = [];

  // Versions: tls_version is the minimum. A psk_file turns TLS 1.3 off (2.0.12+), on
  // every listener it applies to, certificate ones included.
  const minVersion = config.tlsVersion === null ? 'TLSv1.2' : TLS_VERSIONS[config.tlsVersion];
  if (minVersion === undefined) {
    throw new TlsSetupError([`Error: Unsupported tls_version "${config.tlsVersion ?? ''}".`]);
  }
  context.minVersion = minVersion;
  if (listener.security.pskFile !== null && minVersion !== 'TLSv1.3') {
    context.maxVersion = 'TLSv1.2';
  }

  const ciphers = cipherList(config);
  if (ciphers !== null) context.ciphers = ciphers;

  if (config.dhparamfile !== null) {
    const path = config.dhparamfile;
    const fail = (): never => {
      throw new TlsSetupError([`Error loading dhparamfile "${path}".`]);
    };
    const pem = readText(path, fail);
    if (!pem.includes('-----BEGIN DH PARAMETERS-----')) fail();
    tryContext({ dhparam: pem }, fail);
    context.dhparam = pem;
    files.push(path);
  }

  // The CAs that verify client certificates. Always given, even empty: without `ca`
  // Node would trust its built-in root store, which Mosquitto never does.
  const ca: string[] = [];
  if (config.cafile !== null) {
    const path = config.cafile;
    const message = `Error: Unable to load CA certificates. Check cafile "${path}".`;
    const pem = readText(path, (error) => {
      throw new TlsSetupError([message, ...systemErrorLines(error)]);
    });
    const certificates = pemCertificates(pem);
    if (certificates.length === 0) throw new TlsSetupError([message]);
    ca.push(...certificates);
    files.push(path);
  }
  if (config.capath !== null) {
    ca.push(...hashedDirectoryCertificates(config.capath));
    files.push(config.capath);
  }
  context.ca = ca;

  if (config.certfile !== null && config.keyfile !== null) {
    loadCertificateAndKey(context, config.certfile, config.keyfile);
    files.push(config.certfile, config.keyfile);
  }

  // Revocation is checked by the listener (transport/crl.ts), not by Node's `crl`, which
  // would want a CRL for every CA of the chain instead of the client's issuer only.
  let revocation: RevocationCheck | null = null;
  if (config.crlfile !== null) {
    revocation = loadCrlFile(config.crlfile, ca);
    files.push(config.crlfile);
  }

  tryContext(context, (error) => {
    throw new TlsSetupError(['Error: Unable to create TLS context.', ...opensslLines(error)]);
  });
  const psk = config.pskHint !== null && keyOf !== null ? { hint: config.pskHint, keyOf } : null;
  return {
    settings: { context, requireCertificate: config.requireCertificate, revocation, psk },
    files,
  };
}

/**
 * A crlfile, read as X509_load_crl_file() reads it: every PEM CRL in it, at least one.
 * OpenSSL still judges the file first, so a broken one fails with its error lines.
 */
function loadCrlFile(path: string, ca: readonly string[]): RevocationCheck {
  const message = `Error: Unable to load certificate revocation file "${path}". Check crlfile.`;
  const pem = readText(path, (error) => {
    throw new TlsSetupError([message, ...systemErrorLines(error)]);
  });
  // Given one PEM string Node would read only the first CRL.
  const crl = pem.match(CRL_BLOCK) ?? pem;
  tryContext({ crl }, (error) => {
    throw new TlsSetupError([message, ...opensslLines(error)]);
  });
  let lists;
  try {
    lists = parseCrlPem(pem);
  } catch {
    throw new TlsSetupError([message]);
  }
  if (lists.length === 0) throw new TlsSetupError([message]);
  return new RevocationCheck(
    lists,
    ca.map((block) => new X509Certificate(block)),
  );
}

/**
 * `ciphers` (TLS 1.2 and below) and `ciphers_tls1.3`, checked one by one for Mosquitto's
 * messages, then merged into Node's single list (TLS 1.3 suites are the TLS_* names).
 * Null keeps Node's defaults; a PSK listener gets Mosquitto's default list.
 */
function cipherList(config: ListenerTlsConfig): string | null {
  const pskDefault = config.certfile === null && config.pskHint !== null;
  const tls12 = config.ciphers ?? (pskDefault ? MOSQUITTO_DEFAULT_CIPHERS : null);
  const tls13 = config.ciphersTls13;
  if (tls12 === null && tls13 === null) return null;
  const defaults = tls.DEFAULT_CIPHERS.split(':');
  const isTls13 = (name: string): boolean => name.startsWith('TLS_');
  if (tls12 !== null) {
    tryContext({ ciphers: tls12 }, () => {
      throw new TlsSetupError([`Error: Unable to set TLS ciphers. Check cipher list "${tls12}".`]);
    });
  }
  if (tls13 !== null) {
    const fail = (): never => {
      throw new TlsSetupError([
        `Error: Unable to set TLS 1.3 ciphersuites. Check cipher_tls13 list "${tls13}".`,
      ]);
    };
    if (!tls13.split(':').every(isTls13)) fail();
    tryContext({ ciphers: tls13 }, fail);
  }
  const tls12Part = tls12 ?? defaults.filter((name) => !isTls13(name)).join(':');
  const tls13Part = tls13 ?? defaults.filter(isTls13).join(':');
  return `${tls13Part}:${tls12Part}`;
}

function loadCertificateAndKey(
  context: tls.SecureContextOptions,
  certfile: string,
  keyfile: string,
): void {
  const certMessage = `Error: Unable to load server certificate "${certfile}". Check certfile.`;
  const cert = readText(certfile, (error) => {
    throw new TlsSetupError([certMessage, ...systemErrorLines(error)]);
  });
  tryContext({ cert }, (error) => {
    throw new TlsSetupError([certMessage, ...opensslLines(error)]);
  });
  const keyMessage = `Error: Unable to load server key file "${keyfile}". Check keyfile.`;
  const key = readText(keyfile, (error) => {
    throw new TlsSetupError([keyMessage, ...systemErrorLines(error)]);
  });
  try {
    createPrivateKey(key);
  } catch (error) {
    throw new TlsSetupError([keyMessage, ...opensslLines(error)]);
  }
  tryContext({ cert, key }, (error) => {
    throw new TlsSetupError([
      'Error: Server certificate/key are inconsistent.',
      ...opensslLines(error),
    ]);
  });
  context.cert = cert;
  context.key = key;
}

/**
 * capath: the `<hash>.<n>` files of an `openssl rehash` directory. OpenSSL looks them up
 * by hash when it needs them; loading them all up front trusts the same CAs.
 */
function hashedDirectoryCertificates(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new TlsSetupError([
      `Error: Unable to load CA certificates. Check capath "${dir}".`,
      ...systemErrorLines(error),
    ]);
  }
  const certificates: string[] = [];
  for (const name of names.sort()) {
    if (!/^[0-9a-f]{8}\.\d+$/.test(name)) continue;
    try {
      certificates.push(...pemCertificates(readFileSync(join(dir, name), 'utf8')));
    } catch {
      // An unreadable entry is skipped, as OpenSSL skips it when it looks it up.
    }
  }
  return certificates;
}

/** The PEM certificates of a file that parse. */
function pemCertificates(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  return (blocks ?? []).filter((block) => {
    try {
      new X509Certificate(block);
      return true;
    } catch {
      return false;
    }
  });
}

function readText(path: string, fail: (error: unknown) => never): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return fail(error);
  }
}

function tryContext(options: tls.SecureContextOptions, fail: (error: unknown) => never): void {
  try {
    tls.createSecureContext(options);
  } catch (error) {
    fail(error);
  }
}

/** strerror() texts, for OpenSSL's "system library" lines. */
const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
};

/** A failed open() as OpenSSL 3 reports it: "error:80000002:system library::No such ...". */
function systemErrorLines(error: unknown): string[] {
  if (!(error instanceof Error) || !('code' in error) || !('errno' in error)) return [];
  const text = typeof error.code === 'string' ? STRERROR[error.code] : undefined;
  if (text === undefined || typeof error.errno !== 'number') return [];
  const code = (0x80000000 + Math.abs(error.errno)).toString(16).toUpperCase();
  return [`OpenSSL Error[0]: error:${code}:system library::${text}`];
}

function opensslLines(error: unknown): string[] {
  const text = error instanceof Error ? formatOpensslError(error) : null;
  return text === null ? [] : [`OpenSSL Error[0]: ${text}`];
}
