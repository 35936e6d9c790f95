/**
 * TCP and unix-domain stream sockets as Connections, and the servers that accept them.
 * Socket events go to module-level functions (no closures per socket), which find the
 * connection through a symbol-keyed field on the socket.
 */
import type { Buffer } from 'node:buffer';
import net from 'node:net';
import type { Connection, ConnectionHandler } from './connection.ts';

const kConnection = Symbol('connection');

interface OwnedSocket extends net.Socket {
  [kConnection]?: StreamConnection;
}

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[kConnection]?.handler?.onData(chunk);
}

function onSocketDrain(this: OwnedSocket): void {
  this[kConnection]?.handler?.onDrain();
}

function onSocketError(this: OwnedSocket, error: Error): void {
  const connection = this[kConnection];
  if (connection !== undefined) connection.error = error;
}

function onSocketClose(this: OwnedSocket): void {
  const connection = this[kConnection];
  if (connection === undefined || connection.closed) return;
  connection.closed = true;
  connection.handler?.onClose(connection.error);
}

function onSocketFinish(this: OwnedSocket): void {
  this.destroy();
}

/** A connected stream socket (TCP or unix). */
export class StreamConnection implements Connection {
  readonly socket: net.Socket;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  handler: ConnectionHandler | null = null;
  error: Error | null = null;
  closed = false;

  constructor(socket: net.Socket, localPort: number, unixPath: string | null) {
    this.socket = socket;
    if (unixPath === null) {
      const peer = peerOf(socket);
      this.remoteAddress = peer.address;
      this.remotePort = peer.port;
    } else {
      this.remoteAddress = unixPath;
      this.remotePort = 0;
    }
    this.localPort = localPort;
    (socket as OwnedSocket)[kConnection] = this;
    socket.on('error', onSocketError);
    // The peer's FIN ('end') closes the connection for its owner at once, as Mosquitto's
    // read() returning 0 does: Node's 'close' comes only in a later phase of the event
    // loop, after connections accepted in this one, so a client that closed and
    // reconnected at once found its max_connections slot still taken.
    socket.on('end', onSocketClose);
    socket.on('close', onSocketClose);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  setHandler(handler: ConnectionHandler): void {
    this.handler = handler;
    this.socket.on('data', onSocketData);
  }

  write(bytes: Buffer): boolean {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return false;
    if (socket.write(bytes)) return true;
    this.#listenForDrain();
    return false;
  }

  writeParts(parts: readonly Buffer[]): boolean {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return false;
    // Corked, the writes are handed to the kernel together (one writev).
    socket.cork();
    let accepted = true;
    for (const part of parts) accepted = socket.write(part);
    socket.uncork();
    if (!accepted) this.#listenForDrain();
    return accepted;
  }

  /**
   * Listened for from the first refusal on: most connections never fill their socket, and
   * each listener costs every idle connection memory.
   */
  #listenForDrain(): void {
    const socket = this.socket;
    if (socket.listenerCount('drain') === 0) socket.on('drain', onSocketDrain);
  }

  end(): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    if (!socket.writableEnded) {
      socket.once('finish', onSocketFinish);
      socket.end();
    }
    // Stop reading: anything the peer sends after we decided to close is ignored.
    socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.socket.writableEnded) this.socket.resume();
  }
}

/** "::ffff:127.0.0.1" (an IPv4 peer on a dual-stack socket) prints as "127.0.0.1". */
function stripMappedPrefix(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

interface PeerName {
  address?: string | undefined;
  port?: number | undefined;
}

interface PeerNameHandle {
  getpeername?(out: PeerName): number;
}

/** Reused by peerOf(): the address and port are copied out at once. */
const peerScratch: PeerName = {};

/**
 * Peer addresses seen recently, so that the connections from one address share one
 * string (10,000 clients behind one address would otherwise hold 10,000 copies).
 * Bounded: cleared when full.
 */
const internedAddresses = new Map<string, string>();
const INTERNED_ADDRESSES_LIMIT = 1024;

/**
 * The peer's address and port, read from the socket's handle into a scratch object: the
 * `remoteAddress` getter would leave a `_peername` object on every socket for as long as
 * it lives (memory each idle connection pays).
 */
function peerOf(socket: net.Socket): { address: string; port: number } {
  const handle = (socket as unknown as { _handle?: PeerNameHandle | null })._handle;
  let address: string;
  let port: number;
  if (handle?.getpeername !== undefined && handle.getpeername(peerScratch) === 0) {
    address = stripMappedPrefix(peerScratch.address ?? '');
    port = peerScratch.port ?? 0;
    peerScratch.address = undefined;
  } else {
    address = stripMappedPrefix(socket.remoteAddress ?? '');
    port = socket.remotePort ?? 0;
  }
  const interned = internedAddresses.get(address);
  if (interned !== undefined) return { address: interned, port };
  if (internedAddresses.size >= INTERNED_ADDRESSES_LIMIT) internedAddresses.clear();
  internedAddresses.set(address, address);
  return { address, port };
}

export interface StreamListenOptions {
  /** TCP port (0 picks a free one); ignored with `path`. */
  readonly port: number;
  /** Address to bind; null binds every interface. */
  readonly host: string | null;
  /** A unix socket path instead of TCP. */
  readonly path: string | null;
  /**
   * `set_tcp_nodelay`. TCP connections get TCP_NODELAY either way (see StreamListener);
   * the option is kept so that the listener's settings stay those of its configuration.
   */
  readonly noDelay: boolean;
}

/**
 * Binds `server` as `options` say (a unix path, every interface, or one host) and resolves
 * with the bound port (0 for a unix socket); rejects with the bind error. Shared by the
 * TCP, TLS and WebSocket listeners.
 */
export function listenServer(server: net.Server, options: StreamListenOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(error);
    };
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    };
    if (options.path !== null) {
      server.listen({ path: options.path }, done);
    } else if (options.host === null) {
      server.listen({ port: options.port, ipv6Only: false }, done);
    } else {
      server.listen({ port: options.port, host: options.host }, done);
    }
  });
}

/**
 * A listening server handing each accepted socket to `onConnection`.
 *
 * Nagle's algorithm is always off on its connections. It exists to merge small writes,
 * and the broker already writes each connection's packets of one event-loop turn with a
 * single write (flush-scheduler.ts), so it has nothing left to merge; all it adds is a
 * stall whenever the client delays its ACK (up to 40 ms on Linux). Measured with the
 * benchmark's set_tcp_nodelay false: fan-out to 100 subscribers ran at 2.8x Mosquitto
 * with Nagle and about 15x without it, and p99 latency at 10k msg/s fell from 14 ms to
 * about 1 ms. Mosquitto writes every packet on its own, which is why it needs the option.
 */
export class StreamListener {
  readonly server: net.Server;
  readonly options: StreamListenOptions;
  #port = 0;

  constructor(options: StreamListenOptions, onConnection: (connection: StreamConnection) => void) {
    this.options = options;
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
      onConnection(new StreamConnection(socket, this.#port, options.path));
    });
  }

  /** Bound port (0 for unix sockets), valid after listen(). */
  get port(): number {
    return this.#port;
  }

  async listen(): Promise<void> {
    this.#port = await listenServer(this.server, this.options);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}
