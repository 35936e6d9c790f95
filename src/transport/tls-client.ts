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
 * - PSK (`--psk`, `--psk-identity`) replaces certificates altogether;
 * - `requireOcsp` (MOSQ_OPT_TLS_OCSP_REQUIRED, a bridge's `bridge_require_ocsp`) asks for
 *   a stapled OCSP response and refuses the connection unless it says the server
 *   certificate is good (ocsp.ts).
 */
import type { Buffer } from 'node:buffer';
import { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { checkOcspResponse } from './ocsp.ts';

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
  /** Request OCSP stapling and require a good, current, validly signed response. */
  readonly requireOcsp?: boolean;
  readonly signal?: AbortSignal;
}

/** Runs the TLS handshake over `socket`; resolves with the encrypted stream. */
export function startTls(socket: Duplex, options: TlsClientOptions): Promise<tls.TLSSocket> {
  // tls.connect() passes requestOCSP on to its TLSSocket; @types/node lists it only there.
  const connectOptions: tls.ConnectionOptions & Pick<tls.TLSSocketOptions, 'requestOCSP'> = {
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
  const requireOcsp = options.requireOcsp === true;
  if (requireOcsp) connectOptions.requestOCSP = true;

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
    // Node emits 'OCSPResponse' during the handshake (with undefined when the server
    // stapled nothing), always before 'secureConnect'.
    let ocspResponse: Buffer | null = null;
    const onOcspResponse = (response: Buffer | undefined): void => {
      ocspResponse = response ?? null;
    };
    const cleanup = (): void => {
      secure.off('secureConnect', onSecure);
      secure.off('error', onError);
      secure.off('OCSPResponse', onOcspResponse);
      signal?.removeEventListener('abort', onAbort);
    };
    const onSecure = (): void => {
      const refusal = requireOcsp ? ocspRefusal(secure, ocspResponse) : null;
      if (refusal !== null) {
        onError(new Error(refusal));
        return;
      }
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
    if (requireOcsp) secure.on('OCSPResponse', onOcspResponse);
    secure.once('secureConnect', onSecure);
    secure.once('error', onError);
  });
}

/**
 * Why the stapled response does not vouch for the server certificate, or null. The
 * certificate and its issuer come from the chain the handshake verified (Node completes
 * it from the trusted CAs when the server sends only its own certificate). Both are read
 * from getPeerCertificate(true): after getPeerX509Certificate() has been called, Node 20
 * returns an empty object from getPeerCertificate().
 */
function ocspRefusal(secure: tls.TLSSocket, response: Buffer | null): string | null {
  const peer = secure.getPeerCertificate(true);
  // Typed as always there; absent (an empty object) without certificates, as with PSK.
  const raw = peer.raw as Buffer | undefined;
  const issuerRaw = (peer.issuerCertificate as tls.DetailedPeerCertificate | undefined)?.raw;
  if (raw === undefined || issuerRaw === undefined) {
    // Mosquitto looks for the response first.
    return response === null
      ? 'OCSP: no response'
      : 'OCSP: we did not receive certificates of the server (num: 0)';
  }
  return checkOcspResponse(
    response,
    new X509Certificate(raw),
    new X509Certificate(issuerRaw),
    new Date(),
  );
}

function isIpAddress(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
