/**
 * MQTT over WebSockets, client side: one binary WebSocket message per write, received
 * messages concatenated into a byte stream, with the `mqtt` subprotocol (`mqttv3.1` for
 * MQTT 3.1, as the spec's §6 and Mosquitto's listener expect). Loaded only when a
 * ws:// or wss:// URL is used, so the command-line tools never pay for `ws`.
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import WebSocket, { createWebSocketStream } from 'ws';

export interface WebSocketClientOptions {
  /** ws://host:port/path or wss://host:port/path */
  readonly url: string;
  readonly protocol: 'mqtt' | 'mqttv3.1';
  /** For wss://: trusted CAs, client certificate, host name check. */
  readonly ca?: readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly insecure?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** Opens the WebSocket; resolves with a byte stream once the upgrade succeeded. */
export function connectWebSocket(options: WebSocketClientOptions): Promise<Duplex> {
  const wsOptions: WebSocket.ClientOptions = { perMessageDeflate: false };
  if (options.headers !== undefined) wsOptions.headers = { ...options.headers };
  if (options.ca !== undefined && options.ca.length > 0) wsOptions.ca = [...options.ca];
  if (options.cert !== undefined) wsOptions.cert = options.cert;
  if (options.key !== undefined) wsOptions.key = options.key;
  if (options.insecure === true) {
    // Handed to tls.connect, which wants undefined for "no error" (ws's typing says boolean).
    const skipHostCheck = (): undefined => undefined;
    wsOptions.checkServerIdentity = skipHostCheck as unknown as NonNullable<
      WebSocket.ClientOptions['checkServerIdentity']
    >;
  }
  const socket = new WebSocket(options.url, options.protocol, wsOptions);
  socket.binaryType = 'nodebuffer';
  return new Promise((resolve, reject) => {
    const signal = options.signal;
    const cleanup = (): void => {
      socket.off('open', onOpen);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onOpen = (): void => {
      cleanup();
      const stream = createWebSocketStream(socket);
      stream.pause();
      resolve(stream);
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.terminate();
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
    socket.once('open', onOpen);
    socket.once('error', onError);
  });
}
