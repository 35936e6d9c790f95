/**
 * A plain HTTP(S) listener (`protocol http_api`): node:http parses the requests and each
 * one is handed to the broker's handler; this module knows nothing about what is served.
 * TLS takes a certificate and key only (Mosquitto 2.1's http_api allows no other TLS
 * option).
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { listenServer } from './tcp.ts';

export interface HttpListenOptions {
  /** TCP port (0 picks a free one). */
  readonly port: number;
  /** Address to bind; null binds every interface. */
  readonly host: string | null;
  /** HTTPS: certificate and key (tls.createSecureContext options); null for plain HTTP. */
  readonly tls: tls.SecureContextOptions | null;
  /** How long a TLS handshake may take. */
  readonly handshakeTimeoutMs: number;
  /** A socket was accepted (for the listener's counters). */
  readonly onConnection?: (socket: Duplex) => void;
}

/** Answers one request; it must end `response` (errors it throws end it with a 500). */
export type HttpRequestHandler = (
  request: http.IncomingMessage,
  response: http.ServerResponse,
) => void | Promise<void>;

export class HttpListener {
  readonly server: http.Server | https.Server;
  readonly #options: HttpListenOptions;
  #port = 0;

  constructor(options: HttpListenOptions, handler: HttpRequestHandler) {
    this.#options = options;
    const serverOptions: http.ServerOptions = { noDelay: true };
    this.server =
      options.tls === null
        ? http.createServer(serverOptions)
        : https.createServer({
            ...serverOptions,
            ...options.tls,
            handshakeTimeout: options.handshakeTimeoutMs,
          });
    this.server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      let answered: void | Promise<void>;
      try {
        answered = handler(request, response);
      } catch {
        failed(response);
        return;
      }
      if (answered instanceof Promise) {
        answered.catch(() => {
          failed(response);
        });
      }
    });
    const onConnection = options.onConnection;
    if (onConnection !== undefined) {
      // For HTTPS, 'connection' is the TCP socket before the handshake.
      this.server.on('connection', (socket: Duplex) => {
        onConnection(socket);
      });
    }
    this.server.on('tlsClientError', (_error: Error, socket: Duplex) => {
      socket.destroy();
    });
    this.server.on('clientError', (_error: Error, socket: Duplex) => {
      socket.destroy();
    });
  }

  /** Bound port, valid after listen(). */
  get port(): number {
    return this.#port;
  }

  /** HTTPS: new handshakes use this certificate and key. */
  setContext(context: tls.SecureContextOptions): void {
    if (this.server instanceof https.Server) this.server.setSecureContext(context);
  }

  async listen(): Promise<void> {
    const { port, host } = this.#options;
    this.#port = await listenServer(this.server, { port, host, path: null, noDelay: true });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
      // Keep-alive connections would hold close() open.
      this.server.closeAllConnections();
    });
  }
}

function failed(response: http.ServerResponse): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = 'Internal server error.\n';
  response.writeHead(500, { 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}
