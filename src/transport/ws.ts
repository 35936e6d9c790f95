/**
 * WebSocket listeners (`protocol websockets`), plain or over TLS, and their connections.
 *
 * Our own http/https server takes the upgrade and hands it to `ws` (noServer,
 * handleUpgrade), which speaks the subprotocols `mqtt` and `mqttv3.1`. MQTT travels in
 * binary messages; each one is fed to the broker as received (it may hold part of a
 * packet or several), and each write goes out as one binary message. A text message is
 * a protocol error and ends the connection. Plain HTTP requests get the files of
 * `http_dir` (http-dir.ts), or nothing at all without one, as Mosquitto.
 *
 * The peer address is the X-Forwarded-For header when a proxy set one (Mosquitto takes it
 * from libwebsockets the same way, with no port), else the socket's.
 */
import { Buffer } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';
import type { Connection, ConnectionHandler, TlsPeer } from './connection.ts';
import { serveHttpFile } from './http-dir.ts';
import type { TlsServerSettings } from './tls.ts';
import { describeTlsPeer, revocationFailure } from './tls.ts';
import { listenServer } from './tcp.ts';

export interface WebSocketListenOptions {
  /** TCP port (0 picks a free one); ignored with `path`. */
  readonly port: number;
  /** Address to bind; null binds every interface. */
  readonly host: string | null;
  /** A unix socket path instead of TCP. */
  readonly path: string | null;
  readonly noDelay: boolean;
  /** Largest WebSocket message accepted; a bigger one closes the connection. */
  readonly maxPayload: number;
  /** Largest HTTP request head (`websockets_headers_size`); 0 keeps Node's default. */
  readonly maxHeaderSize: number;
  /** `http_dir`, resolved; null refuses plain HTTP requests. */
  readonly httpDir: string | null;
  /** wss: certificate settings (client certificates and PSK as for MQTT over TLS). */
  readonly tls: TlsServerSettings | null;
  readonly handshakeTimeoutMs: number;
}

/** The subprotocols MQTT clients ask for, in our order of preference. */
export const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;

const kConnection = Symbol('connection');

interface OwnedWebSocket extends WebSocket {
  [kConnection]?: WebSocketConnection;
}

interface OwnedSocket extends Duplex {
  [kConnection]?: WebSocketConnection;
}

function onMessage(this: OwnedWebSocket, data: WebSocket.RawData, isBinary: boolean): void {
  const connection = this[kConnection];
  if (connection === undefined) return;
  if (!isBinary) {
    // MQTT is binary [MQTT-6.0.0-1]; a text message is a protocol error.
    connection.error = protocolError('text WebSocket message');
    this.terminate();
    return;
  }
  connection.handler?.onData(data as Buffer);
}

function onWebSocketError(this: OwnedWebSocket, error: Error): void {
  const connection = this[kConnection];
  if (connection !== undefined) connection.error ??= error;
}

function onWebSocketClose(this: OwnedWebSocket): void {
  const connection = this[kConnection];
  if (connection === undefined || connection.closed) return;
  connection.closed = true;
  connection.handler?.onClose(connection.error);
}

function onSocketDrain(this: OwnedSocket): void {
  this[kConnection]?.handler?.onDrain();
}

function protocolError(message: string): Error {
  return Object.assign(new Error('Protocol error'), { code: 'EPROTO', detail: message });
}

/** An MQTT connection over an open WebSocket. */
export class WebSocketConnection implements Connection {
  readonly webSocket: WebSocket;
  /** The HTTP connection underneath (TCP or TLS): where writes queue up. */
  readonly socket: Duplex;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  readonly tlsPeer: TlsPeer | null;
  handler: ConnectionHandler | null = null;
  error: Error | null = null;
  closed = false;

  constructor(
    webSocket: WebSocket,
    socket: Duplex,
    request: http.IncomingMessage,
    localPort: number,
    unixPath: string | null,
  ) {
    this.webSocket = webSocket;
    this.socket = socket;
    const forwarded = request.headers['x-forwarded-for'];
    const forwardedFor = Array.isArray(forwarded) ? forwarded.join(', ') : forwarded;
    const net = request.socket;
    if (forwardedFor !== undefined && forwardedFor !== '') {
      this.remoteAddress = forwardedFor;
      this.remotePort = 0;
    } else {
      this.remoteAddress = unixPath ?? stripMappedPrefix(net.remoteAddress ?? '');
      this.remotePort = net.remotePort ?? 0;
    }
    this.localPort = localPort;
    this.tlsPeer = 'encrypted' in net ? describeTlsPeer(net as tls.TLSSocket) : null;
    (webSocket as OwnedWebSocket)[kConnection] = this;
    (socket as OwnedSocket)[kConnection] = this;
    webSocket.on('error', onWebSocketError);
    webSocket.on('close', onWebSocketClose);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  setHandler(handler: ConnectionHandler): void {
    this.handler = handler;
    this.webSocket.on('message', onMessage);
    this.socket.on('drain', onSocketDrain);
  }

  write(bytes: Buffer): boolean {
    const webSocket = this.webSocket;
    if (webSocket.readyState !== webSocket.OPEN) return false;
    webSocket.send(bytes, { binary: true });
    return !this.socket.writableNeedDrain;
  }

  /** One binary message, as write(): joined (a copy), since a message is one Buffer. */
  writeParts(parts: readonly Buffer[]): boolean {
    return this.write(Buffer.concat(parts));
  }

  end(): void {
    const webSocket = this.webSocket;
    if (webSocket.readyState === webSocket.OPEN) webSocket.close();
    // Anything the peer sends after we decided to close is ignored.
    webSocket.off('message', onMessage);
  }

  destroy(): void {
    this.webSocket.terminate();
  }

  pauseReading(): void {
    this.webSocket.pause();
  }

  resumeReading(): void {
    const webSocket = this.webSocket;
    if (webSocket.readyState === webSocket.OPEN) webSocket.resume();
  }
}

/** A listening HTTP(S) server that turns WebSocket upgrades into connections. */
export class WebSocketListener {
  readonly server: http.Server | https.Server;
  readonly options: WebSocketListenOptions;
  readonly #webSockets: WebSocketServer;
  #tlsSettings: TlsServerSettings | null;
  #port = 0;

  constructor(
    options: WebSocketListenOptions,
    onConnection: (connection: WebSocketConnection) => void,
    onServe: (path: string) => void,
  ) {
    this.options = options;
    const httpOptions: http.ServerOptions = { noDelay: options.noDelay };
    if (options.maxHeaderSize > 0) httpOptions.maxHeaderSize = options.maxHeaderSize;
    const tlsSettings = options.tls;
    this.#tlsSettings = tlsSettings;
    this.server =
      tlsSettings === null
        ? http.createServer(httpOptions)
        : https.createServer({
            ...httpOptions,
            ...tlsSettings.context,
            requestCert: tlsSettings.requireCertificate,
            rejectUnauthorized: tlsSettings.requireCertificate,
            handshakeTimeout: options.handshakeTimeoutMs,
          });
    this.#webSockets = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxPayload,
      // Binary frames only: text is refused before anyone looks at its encoding.
      skipUTF8Validation: true,
      handleProtocols: (protocols) => chooseSubprotocol(protocols) ?? false,
    });
    this.server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!acceptsMqtt(request)) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.#webSockets.handleUpgrade(request, socket, head, (webSocket) => {
        onConnection(new WebSocketConnection(webSocket, socket, request, this.#port, options.path));
      });
    });
    this.server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      const dir = options.httpDir;
      if (dir === null) {
        request.socket.destroy();
        return;
      }
      serveHttpFile(dir, request, response, onServe).catch(() => {
        response.destroy();
      });
    });
    this.server.on('tlsClientError', (_error: Error, socket: Duplex) => {
      socket.destroy();
    });
    // wss with a crlfile: a revoked client certificate is dropped before any HTTP.
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      const settings = this.#tlsSettings;
      if (settings !== null && revocationFailure(settings, socket) !== null) socket.destroy();
    });
    this.server.on('clientError', (_error: Error, socket: Duplex) => {
      socket.destroy();
    });
  }

  /** Bound port (0 for unix sockets), valid after listen(). */
  get port(): number {
    return this.#port;
  }

  /** wss: new handshakes use these settings; connected clients keep theirs. */
  setContext(settings: TlsServerSettings): void {
    if (this.server instanceof https.Server) {
      this.server.setSecureContext(settings.context);
      this.#tlsSettings = settings;
    }
  }

  async listen(): Promise<void> {
    this.#port = await listenServer(this.server, this.options);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
      // Keep-alive HTTP connections (http_dir clients) would hold close() open.
      this.server.closeAllConnections();
    });
  }
}

/** The subprotocol to answer with: mqtt, else mqttv3.1, else none. */
function chooseSubprotocol(protocols: ReadonlySet<string>): string | null {
  for (const name of MQTT_SUBPROTOCOLS) if (protocols.has(name)) return name;
  return null;
}

/**
 * An upgrade asking only for subprotocols we do not speak is refused; one that names no
 * subprotocol at all is served as MQTT (Mosquitto accepts it but never reads its data).
 */
function acceptsMqtt(request: http.IncomingMessage): boolean {
  const header = request.headers['sec-websocket-protocol'];
  if (header === undefined) return true;
  const offered = new Set(header.split(',').map((name) => name.trim()));
  return chooseSubprotocol(offered) !== null;
}

/** "::ffff:127.0.0.1" (an IPv4 peer on a dual-stack socket) prints as "127.0.0.1". */
function stripMappedPrefix(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
