/**
 * TLS on the client side, over an already connected stream (a TCP socket, or a socket
 * through a SOCKS proxy). The caller has read the certificate files; this module only
 * turns the material into a handshake, with libmosquitto's semantics:
 *
 * - the server certificate is always verified against the given CAs;
 * - `insecure` skips only the host name check (mosquitto_tls_insecure_set), never the
 *   chain check;
 * - `minVersion` is a floor, as `--tls-version` is (libmosquitto disables the older
 *   protocols and leaves the newer ones enabled);
 * - PSK (`--psk`, `--psk-identity`) replaces certificates altogether.
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export type TlsVersion = 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface TlsPsk {
  readonly identity: string;
  /** The key, decoded from its hex form. */
  readonly key: Buffer;
}

export interface TlsClientOptions {
  /** The broker's host name: SNI and the name the certificate must carry. */
  readonly servername: string;
  /** Trusted CA certificates (PEM). Empty with `psk`. */
  readonly ca: readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly insecure?: boolean;
  readonly minVersion?: TlsVersion;
  readonly ciphers?: string;
  readonly alpn?: readonly string[];
  readonly psk?: TlsPsk;
  readonly signal?: AbortSignal;
}

/** Runs the TLS handshake over `socket`; resolves with the encrypted stream. */
export function startTls(socket: Duplex, options: TlsClientOptions): Promise<tls.TLSSocket> {
  const connectOptions: tls.ConnectionOptions = {
    socket,
    minVersion: options.minVersion ?? 'TLSv1.2',
  };
  // SNI must not carry an IP address (RFC 6066); Node warns when it does.
  if (!isIpAddress(options.servername)) connectOptions.servername = options.servername;
  if (options.psk !== undefined) {
    const psk = options.psk;
    connectOptions.pskCallback = () => ({ psk: psk.key, identity: psk.identity });
    connectOptions.ciphers = options.ciphers ?? 'PSK';
    // Node offers PSK with TLS 1.2 only (its TLS 1.3 PSK needs session tickets).
    connectOptions.maxVersion = 'TLSv1.2';
    connectOptions.checkServerIdentity = () => undefined;
  } else {
    connectOptions.ca = [...options.ca];
    if (options.cert !== undefined) connectOptions.cert = options.cert;
    if (options.key !== undefined) connectOptions.key = options.key;
    if (options.ciphers !== undefined) connectOptions.ciphers = options.ciphers;
    const servername = options.servername;
    connectOptions.checkServerIdentity =
      options.insecure === true
        ? () => undefined
        : (_host, certificate) => tls.checkServerIdentity(servername, certificate);
  }
  if (options.alpn !== undefined) connectOptions.ALPNProtocols = [...options.alpn];

  return new Promise((resolve, reject) => {
    let secure: tls.TLSSocket;
    try {
      secure = tls.connect(connectOptions);
    } catch (error) {
      // Bad options (an unknown cipher list) throw here, before any handshake.
      socket.destroy();
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    const signal = options.signal;
    const cleanup = (): void => {
      secure.off('secureConnect', onSecure);
      secure.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onSecure = (): void => {
      cleanup();
      resolve(secure);
    };
    const onError = (error: Error): void => {
      cleanup();
      secure.destroy();
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => {
      onError(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    secure.once('secureConnect', onSecure);
    secure.once('error', onError);
  });
}

function isIpAddress(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
