/**
 * Outgoing stream sockets for the client library: TCP (host and port, every address of
 * the name tried in turn, as getaddrinfo-based clients do) and unix-domain sockets.
 * Resolves once connected; rejects with the socket's error (its `code` is the errno name,
 * e.g. ECONNREFUSED, ENOTFOUND), or with the signal's reason when aborted.
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

/** Connects a TCP socket. */
export function connectTcp(options: TcpClientOptions): Promise<net.Socket> {
  const socketOptions: net.TcpNetConnectOpts = {
    host: options.host,
    port: options.port,
    noDelay: options.noDelay ?? false,
  };
  if (options.localAddress !== undefined) socketOptions.localAddress = options.localAddress;
  return whenConnected(net.connect(socketOptions), options.signal);
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
