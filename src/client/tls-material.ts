/**
 * Reads what TLS needs from disk before any socket is opened, as mosquitto_tls_set()
 * does: the CA file, every certificate of a CA directory, the client certificate and key,
 * the OS store when asked. A missing file fails here (ERR_MQTT_TLS_FILE), so the tools can
 * report it before connecting. Loaded only when TLS is used.
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { TlsPsk, TlsVersion } from '../transport/tls-client.ts';
import { ClientErrorCode, MosqErr, MqttClientError } from './errors.ts';
import type { TlsOptions } from './options.ts';

export interface TlsMaterial {
  readonly ca: readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly insecure: boolean;
  readonly minVersion: TlsVersion;
  readonly ciphers?: string;
  readonly alpn?: readonly string[];
  readonly psk?: TlsPsk;
  readonly servername: string;
  readonly requireOcsp?: boolean;
}

/** Where Linux distributions keep the system CA bundle. */
const OS_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

const VERSIONS: Readonly<Record<string, TlsVersion>> = {
  'tlsv1.3': 'TLSv1.3',
  'tlsv1.2': 'TLSv1.2',
  'tlsv1.1': 'TLSv1.1',
};

function fileError(what: string, path: string, cause: unknown): MqttClientError {
  return new MqttClientError(
    ClientErrorCode.TlsFile,
    MosqErr.Inval,
    `cannot read the TLS ${what} ${path}`,
    { cause },
  );
}

function readFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw fileError(what, path, error);
  }
}

function readCaDirectory(path: string): Buffer[] {
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (error) {
    throw fileError('CA directory', path, error);
  }
  const out: Buffer[] = [];
  for (const name of names.sort()) {
    const file = join(path, name);
    try {
      if (!statSync(file).isFile()) continue;
      const bytes = readFileSync(file);
      if (bytes.includes('-----BEGIN CERTIFICATE-----')) out.push(bytes);
    } catch {
      // An unreadable entry in a CA directory is skipped, as OpenSSL's lookup would.
    }
  }
  return out;
}

function osCertificates(): (string | Buffer)[] {
  for (const path of OS_BUNDLES) {
    try {
      return [readFileSync(path)];
    } catch {
      // Try the next location.
    }
  }
  return [...rootCertificates];
}

/** Resolves TlsOptions into the material for the handshake; `host` is the broker's name. */
export function loadTlsMaterial(options: TlsOptions, host: string): TlsMaterial {
  const version = options.version ?? 'tlsv1.2';
  const minVersion = VERSIONS[version];
  if (minVersion === undefined) {
    throw new MqttClientError(
      ClientErrorCode.InvalidArgument,
      MosqErr.Inval,
      `unsupported TLS version: ${version}`,
    );
  }
  const base = {
    insecure: options.insecure ?? false,
    minVersion,
    servername: options.servername ?? host,
    ...(options.ciphers === undefined ? {} : { ciphers: options.ciphers }),
    ...(options.alpn === undefined ? {} : { alpn: options.alpn }),
    ...(options.requireOcsp === true ? { requireOcsp: true } : {}),
  };
  if (options.psk !== undefined) {
    if (!/^[0-9a-fA-F]*$/.test(options.psk.hexKey) || options.psk.hexKey.length % 2 !== 0) {
      throw new MqttClientError(ClientErrorCode.InvalidArgument, MosqErr.Inval, 'invalid PSK');
    }
    return {
      ...base,
      ca: [],
      psk: { identity: options.psk.identity, key: Buffer.from(options.psk.hexKey, 'hex') },
    };
  }
  const ca: (string | Buffer)[] = [];
  if (options.ca !== undefined) {
    if (typeof options.ca === 'string' || Buffer.isBuffer(options.ca)) ca.push(options.ca);
    else ca.push(...options.ca);
  }
  if (options.caFile !== undefined) {
    const bytes = readFile('CA file', options.caFile);
    // OpenSSL refuses a CA file without certificates; Node would silently trust nothing.
    if (
      !bytes.includes('-----BEGIN CERTIFICATE-----') &&
      !bytes.includes('-----BEGIN X509 CRL-----')
    ) {
      throw new MqttClientError(
        ClientErrorCode.Tls,
        MosqErr.Tls,
        `Unable to load CA certificates, check cafile "${options.caFile}".`,
        {
          cause: Object.assign(new Error('no certificate or crl found'), {
            code: 'ERR_TLS_CA_FILE',
          }),
        },
      );
    }
    ca.push(bytes);
  }
  if (options.caPath !== undefined) ca.push(...readCaDirectory(options.caPath));
  const explicitCa = ca.length > 0 || options.caFile !== undefined || options.caPath !== undefined;
  if (options.useOsCerts === true || !explicitCa) ca.push(...osCertificates());
  const cert =
    options.cert ??
    (options.certFile === undefined ? undefined : readFile('certificate', options.certFile));
  const key =
    options.key ?? (options.keyFile === undefined ? undefined : readFile('key', options.keyFile));
  return {
    ...base,
    ca,
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
}
