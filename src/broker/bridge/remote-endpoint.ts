/**
 * Where and how a bridge reaches its remote, in the client library's terms: TCP, or TLS
 * as soon as any of bridge_cafile, bridge_capath, bridge_certfile or bridge_psk is set
 * (as Mosquitto), with the bridge's TLS options; and the line logged when the attempt
 * fails before any MQTT was spoken.
 */
import type { Endpoint } from '../../client/endpoint.ts';
import type { TlsOptions } from '../../client/options.ts';
import type { BridgeAddress, BridgeConfig } from '../config/types.ts';
import { closeForSocketError, closeLogLine } from '../close-reason.ts';

export function usesTls(config: BridgeConfig): boolean {
  return (
    config.cafile !== null ||
    config.capath !== null ||
    config.certfile !== null ||
    config.psk !== null ||
    config.tlsUseOsCerts
  );
}

function tlsOptions(config: BridgeConfig): TlsOptions {
  const version = config.tlsVersion;
  return {
    ...(config.cafile === null ? {} : { caFile: config.cafile }),
    ...(config.capath === null ? {} : { caPath: config.capath }),
    ...(config.certfile === null ? {} : { certFile: config.certfile }),
    ...(config.keyfile === null ? {} : { keyFile: config.keyfile }),
    ...(config.tlsUseOsCerts ? { useOsCerts: true } : {}),
    insecure: config.insecure,
    ...(config.requireOcsp ? { requireOcsp: true } : {}),
    ...(version === 'tlsv1.3' || version === 'tlsv1.2' || version === 'tlsv1.1' ? { version } : {}),
    ...cipherList(config),
    ...(config.alpn === null ? {} : { alpn: [config.alpn] }),
    ...(config.psk !== null && config.identity !== null
      ? { psk: { identity: config.identity, hexKey: config.psk } }
      : {}),
  };
}

/** Node takes TLS 1.2 ciphers and TLS 1.3 suites in one list (OpenSSL takes two). */
function cipherList(config: BridgeConfig): { ciphers?: string } {
  const lists = [config.ciphers, config.ciphersTls13].filter((list) => list !== null);
  return lists.length === 0 ? {} : { ciphers: lists.join(':') };
}

export function bridgeEndpoint(config: BridgeConfig, address: BridgeAddress): Endpoint {
  const tls = usesTls(config);
  return {
    transport: tls ? 'tls' : 'tcp',
    host: address.host,
    port: address.port,
    unixPath: '',
    wsPath: '',
    wsHeaders: undefined,
    tls: tls ? tlsOptions(config) : null,
    proxy: null,
    localAddress: config.bindAddress ?? undefined,
    noDelay: false,
  };
}

/** A host name that does not resolve (Mosquitto finds out before opening a socket). */
export function isLookupFailure(error: Error): boolean {
  const cause = (error as { cause?: unknown }).cause ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  return code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL';
}

export interface FailureLine {
  readonly level: 'notice' | 'error';
  readonly text: string;
}

/**
 * Node's codes for a certificate the chain or host name check refused (OpenSSL's
 * X509_V_ERR names as Node reports them, and its own host name check): OpenSSL's
 * handshake fails on each with "certificate verify failed".
 */
const CERTIFICATE_REFUSED: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * What Mosquitto logs when a bridge's connection cannot be made: a refused or reset
 * connection is a lost connection (loop.c's do_disconnect() lines), a name that does not
 * resolve an error creating the bridge, a TLS failure OpenSSL's error line and then a
 * protocol error; anything else (an OCSP refusal) its reason.
 */
export function connectFailureLines(localClientid: string, error: unknown): FailureLine[] {
  const cause = (error as { cause?: unknown } | null)?.cause ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof Error && isLookupFailure(cause)) {
    const text =
      code === 'EAI_AGAIN' ? 'Temporary failure in name resolution' : 'Name or service not known';
    return [{ level: 'error', text: `Error creating bridge: ${text}.` }];
  }
  const openssl =
    typeof code === 'string' && CERTIFICATE_REFUSED.has(code)
      ? 'error:0A000086:SSL routines::certificate verify failed'
      : (/error:[0-9A-F]{8}:[^:]*:[^:]*:[^:\n]*/.exec(message)?.[0] ?? null);
  if (openssl !== null) {
    return [
      { level: 'error', text: `OpenSSL Error[0]: ${openssl}` },
      { level: 'notice', text: `Client ${localClientid} disconnected: Protocol error.` },
    ];
  }
  if (typeof code === 'string' && code.startsWith('E') && cause instanceof Error) {
    const [reason, detail] = closeForSocketError(cause);
    const line = closeLogLine(reason, localClientid, detail);
    if (line !== null) return [{ level: 'notice', text: line }];
  }
  const text = error instanceof Error ? error.message : String(error);
  return [{ level: 'error', text: `Bridge ${localClientid} failed to connect: ${text}` }];
}
