/**
 * A transport-neutral byte pipe: what the broker needs from a socket and nothing more.
 * TCP, unix sockets, TLS and WebSockets all look like this to the broker, so the MQTT
 * state machine never touches `net` directly.
 */
import type { Buffer } from 'node:buffer';

/** The client certificate a TLS handshake verified. */
export interface PeerCertificate {
  /**
   * The subject's first commonName as decoded text, or null when the subject has none.
   * Not validated: it may hold NUL or control characters, which the broker refuses.
   */
  readonly commonName: string | null;
  /** The subject in RFC 2253 form, most specific first (OpenSSL's XN_FLAG_RFC2253). */
  readonly subject: string;
}

/** What TLS established about the peer of a connection. */
export interface TlsPeer {
  /** The verified client certificate; null when none was asked for or sent. */
  readonly certificate: PeerCertificate | null;
  /** The TLS-PSK identity the client authenticated with; null without PSK. */
  readonly pskIdentity: string | null;
}

/** What a connection reports to its owner. Called with the owner as `this`-free methods. */
export interface ConnectionHandler {
  /** A chunk arrived; it may hold part of a packet or many packets. */
  onData(chunk: Buffer): void;
  /** The transport has room again after `write()` returned false. */
  onDrain(): void;
  /** The connection is gone: `error` when it broke, null on end of stream or our own close. */
  onClose(error: Error | null): void;
}

export interface Connection {
  /** The peer's address as Mosquitto prints it ("127.0.0.1", "::1", a unix socket path). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The listening port this connection arrived on (0 for unix sockets). */
  readonly localPort: number;
  /**
   * TLS facts about the peer (client certificate, PSK identity); absent or null on plain
   * TCP, unix sockets and unencrypted WebSockets.
   */
  readonly tlsPeer?: TlsPeer | null;
  /** Bytes the transport still holds; 0 means every write so far has left this process. */
  readonly writableLength: number;
  /** Registers the owner; events before this are buffered by the stream (paused). */
  setHandler(handler: ConnectionHandler): void;
  /**
   * Queues bytes. Returns false when the transport's buffer is full: stop writing until
   * onDrain. The transport may keep a reference to `bytes` until it is written, so the
   * caller must not reuse them unless `writableLength` is 0 afterwards.
   */
  write(bytes: Buffer): boolean;
  /**
   * write() of several Buffers in order, as one write where the transport can (a large
   * message's payload goes out from where it is, with no copy per recipient).
   */
  writeParts(parts: readonly Buffer[]): boolean;
  /** Sends what is queued, then closes. */
  end(): void;
  /** Closes at once, discarding anything queued. */
  destroy(): void;
  /**
   * Stops reading from the peer (TCP backpressure does the rest) until resumeReading():
   * the owner cannot take more input for now, e.g. while a plugin's check is pending.
   */
  pauseReading(): void;
  resumeReading(): void;
}
