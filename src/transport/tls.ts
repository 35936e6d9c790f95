/**
 * TLS listeners (certificates or PSK) and their connections, on `tls.Server`.
 *
 * A verified connection is a StreamConnection over the TLSSocket (the same write path as
 * plain TCP) plus what the handshake established about the peer, read lazily: the client
 * certificate's commonName and RFC 2253 subject, or the PSK identity.
 *
 * Node verifies client certificates after the handshake and drops failures silently (the
 * socket is destroyed before any `secureConnection`), and a failed socket no longer knows
 * its peer address when `tlsClientError` reports it. Mosquitto logs the address of every
 * failed handshake, so the listener keeps the raw sockets whose handshake is under way
 * and attributes each failure to the first of them that is already gone (the raw socket
 * always closes just before the failure is reported).
 *
 * A listener with a crlfile checks the verified client certificate's revocation itself
 * (crl.ts) as soon as the handshake completes, before any byte of the connection is
 * read; a refused one is reported and logged like any other failed verification.
 */
import { Buffer } from 'node:buffer';
import type net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Connection, ConnectionHandler, PeerCertificate, TlsPeer } from './connection.ts';
import type { RevocationCheck } from './crl.ts';
import { CrlFailure } from './crl.ts';
import { StreamConnection, listenServer } from './tcp.ts';

/** What a listener needs to know to run TLS; built by the broker from its config. */
export interface TlsServerSettings {
  /** Certificate, key, CAs, versions, ciphers... (tls.createSecureContext). */
  readonly context: tls.SecureContextOptions;
  /** Ask for a client certificate and refuse the handshake without a valid one. */
  readonly requireCertificate: boolean;
  /** The crlfile's check of client certificates; null without a crlfile. */
  readonly revocation: RevocationCheck | null;
  /** TLS-PSK: the hint sent to clients, and the key of an identity (null: unknown). */
  readonly psk: {
    readonly hint: string;
    readonly keyOf: (identity: string) => Buffer | null;
  } | null;
}

export interface TlsListenOptions {
  /** TCP port (0 picks a free one); ignored with `path`. */
  readonly port: number;
  /** Address to bind; null binds every interface. */
  readonly host: string | null;
  /** A unix socket path instead of TCP. */
  readonly path: string | null;
  readonly noDelay: boolean;
  /** A client that has not finished the handshake by then is dropped. */
  readonly handshakeTimeoutMs: number;
  readonly tls: TlsServerSettings;
}

/** A handshake that did not produce a connection, for the log. */
export interface TlsHandshakeFailure {
  /** "" when the peer could not be identified. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** OpenSSL's reason as Mosquitto prints it ("error:0A000086:SSL routines::..."). */
  readonly reason: string;
  /** The client did not complete the handshake in time (no OpenSSL error then). */
  readonly timedOut: boolean;
  /** Why the crlfile check refused the client certificate, when it did. */
  readonly revocation?: CrlFailure;
  /** OpenSSL's whole error queue, when it holds more than `reason` (its last entry). */
  readonly errorQueue?: readonly string[];
}

const VERIFY_FAILED = 'error:0A000086:SSL routines::certificate verify failed';
const UNEXPECTED_EOF = 'error:0A000126:SSL routines::unexpected eof while reading';
/** What ASN1_item_verify() queues when a signature (here a CRL's) does not verify. */
const SIGNATURE_EVP_ERROR = 'error:06880006:asn1 encoding routines::EVP lib';

/** The PSK identity each socket authenticated with (set by the PSK callback). */
const pskIdentities = new WeakMap<tls.TLSSocket, string>();

/** A peer as read when its raw socket was accepted. */
interface Peer {
  readonly address: string;
  readonly port: number;
}

/** A verified TLS connection. */
export class TlsConnection implements Connection {
  readonly stream: StreamConnection;
  readonly socket: tls.TLSSocket;
  #peer: TlsPeer | null = null;

  constructor(socket: tls.TLSSocket, localPort: number, unixPath: string | null) {
    this.socket = socket;
    this.stream = new StreamConnection(socket, localPort, unixPath);
  }

  get remoteAddress(): string {
    return this.stream.remoteAddress;
  }

  get remotePort(): number {
    return this.stream.remotePort;
  }

  get localPort(): number {
    return this.stream.localPort;
  }

  get tlsPeer(): TlsPeer {
    this.#peer ??= describeTlsPeer(this.socket);
    return this.#peer;
  }

  get writableLength(): number {
    return this.stream.writableLength;
  }

  setHandler(handler: ConnectionHandler): void {
    this.stream.setHandler(handler);
  }

  write(bytes: Buffer): boolean {
    return this.stream.write(bytes);
  }

  writeParts(parts: readonly Buffer[]): boolean {
    return this.stream.writeParts(parts);
  }

  end(): void {
    this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
  }

  pauseReading(): void {
    this.stream.pauseReading();
  }

  resumeReading(): void {
    this.stream.resumeReading();
  }
}

/** What the handshake of `socket` established about the peer. */
export function describeTlsPeer(socket: tls.TLSSocket): TlsPeer {
  const pskIdentity = pskIdentities.get(socket) ?? null;
  const x509 = socket.getPeerX509Certificate();
  if (x509 === undefined) return { certificate: null, pskIdentity };
  const certificate: PeerCertificate = {
    commonName: firstCommonName(socket.getPeerCertificate(false)),
    subject: rfc2253Subject(x509.subject),
  };
  return { certificate, pskIdentity };
}

/** The first CN of a peer certificate's subject (Node gives an array for repeated CNs). */
function firstCommonName(certificate: tls.PeerCertificate): string | null {
  const subject = certificate.subject as unknown as Record<string, unknown> | undefined;
  const cn = subject?.CN;
  if (typeof cn === 'string') return cn;
  if (Array.isArray(cn) && typeof cn[0] === 'string') return cn[0];
  return null;
}

/**
 * Node's X509Certificate.subject (one RDN per line in certificate order, the entries of a
 * multi-valued RDN joined by " + ", RFC 2253 escapes already applied) turned into
 * OpenSSL's XN_FLAG_RFC2253 form, which Mosquitto's use_subject_as_username uses: every
 * entry in reverse order, RDNs joined by ",", entries of one RDN by "+", and each byte of
 * a non-ASCII character escaped as \XX.
 */
export function rfc2253Subject(multiline: string): string {
  const rdns = multiline === '' ? [] : multiline.split('\n');
  const parts: string[] = [];
  for (let i = rdns.length - 1; i >= 0; i--) {
    const entries = (rdns[i] ?? '').split(' + ');
    entries.reverse();
    parts.push(entries.join('+'));
  }
  return escapeNonAscii(parts.join(','));
}

function escapeNonAscii(text: string): string {
  let out = '';
  for (const ch of text) {
    if (ch.charCodeAt(0) < 0x80) {
      out += ch;
      continue;
    }
    for (const byte of Buffer.from(ch, 'utf8')) {
      out += `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/**
 * An OpenSSL error as OpenSSL 3's ERR_error_string prints it, which is what Mosquitto
 * logs: "error:<code>:<library>::<reason>" (Node adds a thread id, the function name and
 * the source position). Null when the error did not come from OpenSSL.
 */
export function formatOpensslError(error: Error): string | null {
  const match = /error:([0-9A-F]{8}):([^:]*):[^:]*:([^:\n]*)/.exec(error.message);
  if (match === null) return null;
  return `error:${match[1] ?? ''}:${match[2] ?? ''}::${match[3] ?? ''}`;
}

/** Why a handshake failed; a connection cut before any TLS error is OpenSSL's EOF. */
function handshakeReason(error: Error, socket: tls.TLSSocket): string {
  // Typed as an Error, but Node sets the verification error's code (a string), or null.
  if ((socket.authorizationError as unknown) !== null) return VERIFY_FAILED;
  return formatOpensslError(error) ?? UNEXPECTED_EOF;
}

/**
 * Why the crlfile check refuses the peer of a completed handshake, or null. Only a
 * verified client certificate is checked: without require_certificate none is asked for.
 */
export function revocationFailure(
  settings: TlsServerSettings,
  socket: tls.TLSSocket,
  now = new Date(),
): CrlFailure | null {
  const revocation = settings.revocation;
  if (revocation === null || !socket.authorized) return null;
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) return null;
  return revocation.check(leaf, verifiedChain(socket), now);
}

/** The certificates above the peer's, as Node completed the chain (the peer's, the CAs). */
function verifiedChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let current = socket.getPeerCertificate(true);
  // The last certificate of the chain is its own issuer; the bound guards odd chains.
  for (let i = 0; i < 16; i++) {
    // Typed as always there; absent when the peer sent no chain Node could complete.
    const issuer = current.issuerCertificate as tls.DetailedPeerCertificate | undefined;
    if (issuer === undefined || issuer === current) break;
    chain.push(new X509Certificate(issuer.raw));
    current = issuer;
  }
  return chain;
}

/** A listening TLS server handing each verified connection to `onConnection`. */
export class TlsListener {
  readonly server: tls.Server;
  readonly options: TlsListenOptions;
  #settings: TlsServerSettings;
  #port = 0;
  /**
   * Raw sockets whose handshake is under way, oldest first, with their peer read at
   * accept time (a destroyed socket no longer knows it). See the module comment.
   */
  readonly #handshaking = new Map<net.Socket, Peer>();

  constructor(
    options: TlsListenOptions,
    onConnection: (connection: TlsConnection) => void,
    onHandshakeFailure: (failure: TlsHandshakeFailure) => void,
  ) {
    this.options = options;
    this.#settings = options.tls;
    this.server = tls.createServer({
      ...serverOptions(options.tls),
      noDelay: options.noDelay,
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    this.server.on('connection', (raw: net.Socket) => {
      this.#handshaking.set(raw, {
        address: options.path ?? stripMappedPrefix(raw.remoteAddress ?? ''),
        port: raw.remotePort ?? 0,
      });
      raw.once('close', () => {
        setImmediate(() => this.#handshaking.delete(raw));
      });
    });
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      const peer = this.#settled(socket);
      const revocation = revocationFailure(this.#settings, socket);
      if (revocation !== null) {
        onHandshakeFailure({
          remoteAddress: peer?.address ?? '',
          remotePort: peer?.port ?? 0,
          reason: VERIFY_FAILED,
          timedOut: false,
          revocation,
          ...(revocation === CrlFailure.SignatureFailure
            ? { errorQueue: [SIGNATURE_EVP_ERROR, VERIFY_FAILED] }
            : {}),
        });
        socket.destroy();
        return;
      }
      onConnection(new TlsConnection(socket, this.#port, options.path));
    });
    this.server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
      const peer = this.#failedPeer();
      const timedOut = 'code' in error && error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      onHandshakeFailure({
        remoteAddress: peer?.address ?? '',
        remotePort: peer?.port ?? 0,
        reason: handshakeReason(error, socket),
        timedOut,
      });
      socket.destroy();
    });
  }

  /** Bound port (0 for unix sockets), valid after listen(). */
  get port(): number {
    return this.#port;
  }

  /** New handshakes use these settings; connected clients keep theirs. */
  setContext(settings: TlsServerSettings): void {
    this.server.setSecureContext(settings.context);
    this.#settings = settings;
  }

  async listen(): Promise<void> {
    this.#port = await listenServer(this.server, this.options);
  }

  close(): Promise<void> {
    for (const raw of this.#handshaking.keys()) raw.destroy();
    this.#handshaking.clear();
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  /** Forgets the raw socket of a completed handshake; its peer as read at accept. */
  #settled(socket: tls.TLSSocket): Peer | null {
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    for (const raw of this.#handshaking.keys()) {
      if (!raw.destroyed && raw.remoteAddress === address && raw.remotePort === port) {
        return this.#take(raw);
      }
    }
    return null;
  }

  /** The peer a handshake failure belongs to: the oldest raw socket already closed. */
  #failedPeer(): Peer | null {
    let oldest: net.Socket | null = null;
    for (const raw of this.#handshaking.keys()) {
      oldest ??= raw;
      if (raw.destroyed) return this.#take(raw);
    }
    // A handshake timeout is reported while the socket is still open.
    return oldest === null ? null : this.#take(oldest);
  }

  #take(raw: net.Socket): Peer | null {
    const peer = this.#handshaking.get(raw) ?? null;
    this.#handshaking.delete(raw);
    return peer;
  }
}

/** tls.createServer options for a listener's settings. */
function serverOptions(settings: TlsServerSettings): tls.TlsOptions {
  const options: tls.TlsOptions = {
    ...settings.context,
    requestCert: settings.requireCertificate,
    rejectUnauthorized: settings.requireCertificate,
  };
  const psk = settings.psk;
  if (psk !== null) {
    options.pskIdentityHint = psk.hint;
    options.pskCallback = (socket: tls.TLSSocket, identity: string) => {
      const key = psk.keyOf(identity);
      if (key !== null) pskIdentities.set(socket, identity);
      return key;
    };
  }
  return options;
}

/** "::ffff:127.0.0.1" (an IPv4 peer on a dual-stack socket) prints as "127.0.0.1". */
function stripMappedPrefix(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
