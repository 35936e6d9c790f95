/**
 * Outgoing stream sockets for the client library: TCP (host and port, every address of
 * the name tried in turn, as getaddrinfo-based clients do) and unix-domain sockets.
 * Resolves once connected; rejects with the socket's error (its `code` is the errno name,
 * e.g. ECONNREFUSED, ENOTFOUND), or with the signal's reason when aborted.
 *
 * "localhost", every tool's default host, is answered here with the loopback addresses
 * (RFC 6761 §6.3 lets a resolver do so) instead of asking getaddrinfo: in a fresh Node
 * process that first lookup costs ~7 ms (the libuv thread pool starting) and Node's IPv6
 * check of the name another ~5 ms (its regular expression compiling), a fifth of a
 * tool's start-up. DEVIATIONS.md has the row.
 */
import net from 'node:net';

export interface TcpClientOptions {
  readonly host: string;
  readonly port: number;
  /** Bind the outgoing socket to this local address (mosquitto_pub -A). */
  readonly localAddress?: string;
  /** Disable Nagle's algorithm (--nodelay). */
  readonly noDelay?: boolean;
  readonly signal?: AbortSignal;
}

/** IPv4's first, as getaddrinfo orders them for an /etc/hosts with both. */
const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1'] as const;

/** Connects a TCP socket. */
export async function connectTcp(options: TcpClientOptions): Promise<net.Socket> {
  if (!isLocalhost(options.host)) return connectTcpTo(options.host, options);
  let firstError: unknown;
  for (const address of LOOPBACK_ADDRESSES) {
    try {
      return await connectTcpTo(address, options);
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      // The first address's error is the one to report: a broker on 127.0.0.1 refusing
      // says more than ::1 being unavailable.
      firstError ??= error;
    }
  }
  throw firstError;
}

function connectTcpTo(host: string, options: TcpClientOptions): Promise<net.Socket> {
  const socketOptions: net.TcpNetConnectOpts = {
    host,
    port: options.port,
    noDelay: options.noDelay ?? false,
  };
  if (options.localAddress !== undefined) socketOptions.localAddress = options.localAddress;
  return whenConnected(net.connect(socketOptions), options.signal);
}

function isLocalhost(host: string): boolean {
  return host.length === 9 && host.toLowerCase() === 'localhost';
}

/** Connects a unix-domain stream socket. */
export function connectUnix(path: string, signal?: AbortSignal): Promise<net.Socket> {
  return whenConnected(net.connect({ path }), signal);
}

function whenConnected(socket: net.Socket, signal: AbortSignal | undefined): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      cleanup();
      socket.destroy();
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onConnect = (): void => {
      cleanup();
      resolve(socket);
    };
    const cleanup = (): void => {
      socket.off('error', onError);
      socket.off('connect', onConnect);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}
