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

/**
 * What Mosquitto logs when a bridge's socket cannot be made: a refused or reset
 * connection is a lost connection (loop.c's do_disconnect() lines), a name that does not
 * resolve an error creating the bridge, a TLS failure its reason.
 */
export function connectFailureLine(
  localClientid: string,
  error: unknown,
): { level: 'notice' | 'error'; text: string } {
  const cause = (error as { cause?: unknown } | null)?.cause ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL') {
    const text =
      code === 'EAI_AGAIN' ? 'Temporary failure in name resolution' : 'Name or service not known';
    return { level: 'error', text: `Error creating bridge: ${text}.` };
  }
  if (typeof code === 'string' && code.startsWith('E') && cause instanceof Error) {
    const [reason, detail] = closeForSocketError(cause);
    const line = closeLogLine(reason, localClientid, detail);
    if (line !== null) return { level: 'notice', text: line };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { level: 'error', text: `Bridge ${localClientid} failed to connect: ${message}` };
}
