/**
 * Opening the configured listeners (Mosquitto's listeners__start) with Mosquitto's log
 * lines: MQTT over TCP, TLS (certificates or PSK) or a unix socket, and WebSockets (ws
 * or wss, with http_dir). In local-only mode (no listener configured) a failure on one
 * of 127.0.0.1 / ::1 is tolerated as long as one opens.
 *
 * Also what SIGHUP does to listeners: their certificates, keys, CAs and CRLs are read
 * again for new connections (connected clients keep theirs), and psk_file is re-read;
 * with `tls_reload_on_change true` the same happens whenever those files change.
 *
 * The TLS code (node:tls, certificate and CRL readers) and the WebSocket code (ws,
 * node:http/https, http_dir) are loaded only when a configured listener needs them.
 */
import type { Buffer } from 'node:buffer';
import { realpathSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Utf8Problem, checkMqttString } from '../protocol/primitives.ts';
import type { Connection } from '../transport/connection.ts';
import { StreamListener } from '../transport/tcp.ts';
import type { StreamListenOptions } from '../transport/tcp.ts';
import type { TlsHandshakeFailure, TlsListener, TlsServerSettings } from '../transport/tls.ts';
import { removeStaleSocket, restrictSocketMode } from '../transport/unix.ts';
import type { WebSocketListener } from '../transport/ws.ts';
import type { HttpListener } from '../transport/http-server.ts';
import type { httpApiHandler } from './http-api/http-api.ts';
import type { Broker } from './broker.ts';
import { CertificateWatcher } from './certificate-watcher.ts';
import { CONNECT_DEADLINE_MS } from './client-connection.ts';
import type { BrokerConfig, ListenerConfig } from './config/types.ts';
import type { ListenerCounters } from './metrics.ts';
import { newListenerCounters } from './metrics.ts';
import { PskFileError, readPskFile } from './psk-file.ts';
import type { LoadedTls, TlsSetupError, loadTls } from './tls-context.ts';
import { listenerUsesTls } from './tls-identity.ts';

/** One listening socket of a listener (bind_interface may need one per address family). */
type Endpoint = StreamListener | TlsListener | WebSocketListener | HttpListener;

/** The sockets of one configured listener, and what keeps its TLS settings current. */
export class ListenerSockets {
  readonly endpoints: Endpoint[] = [];
  /** The keys of the listener's psk_file (replaced on reload). */
  pskKeys: ReadonlyMap<string, Buffer> = new Map();
  watcher: CertificateWatcher | null = null;

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    await Promise.all(this.endpoints.map((endpoint) => endpoint.close()));
  }
}

export interface BrokerListener extends ListenerCounters {
  readonly config: ListenerConfig;
  readonly server: ListenerSockets;
  /** The bound port (the configured one, or the one picked for port 0). */
  port: number;
}

/** Thrown when the listeners cannot be started; the broker exits with `exitCode`. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A listener that cannot be set up; its lines are already what Mosquitto logs. */
class SetupFailure extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
  }
}

/** The largest MQTT packet: 268,435,455 bytes of body plus 5 of fixed header. */
const MQTT_MAX_PACKET = 268_435_460;

function familyLines(config: ListenerConfig, port: number): string[] {
  if (config.protocol === 'http_api') {
    const lines = [`Opening http api listen socket on port ${port}.`];
    if (config.httpDir != null) lines.push(`Using http_dir ${config.httpDir}`);
    return lines;
  }
  if (config.protocol === 'websockets') {
    return [`Opening websockets listen socket on port ${port}.`];
  }
  if (config.unixSocketPath !== null) {
    return [`Opening unix listen socket on path ${config.unixSocketPath}.`];
  }
  const host = config.bindAddress;
  const v4 = `Opening ipv4 listen socket on port ${port}.`;
  const v6 = `Opening ipv6 listen socket on port ${port}.`;
  if (host === null) {
    if (config.socketDomain === 'ipv4') return [v4];
    if (config.socketDomain === 'ipv6') return [v6];
    return [v4, v6];
  }
  return host.includes(':') ? [v6] : [v4];
}

// ---- Optional transports ---------------------------------------------------------------

/**
 * The code of the optional transports, loaded by openListeners() before the first
 * listener that needs it: a broker with plain TCP listeners never loads node:tls, ws or
 * node:http (about 9 MB less idle RSS; README, "Broker"). Listeners are only opened at
 * start-up (SIGHUP reloads the files of those already open), so whatever a reload or a
 * TLS listener later asks for is loaded by then.
 */
interface TlsCode {
  readonly TlsListener: typeof TlsListener;
  readonly loadTls: typeof loadTls;
  readonly TlsSetupError: typeof TlsSetupError;
}
let tlsCode: TlsCode | null = null;
let webSocketCode: { readonly WebSocketListener: typeof WebSocketListener } | null = null;
interface HttpApiCode {
  readonly HttpListener: typeof HttpListener;
  readonly httpApiHandler: typeof httpApiHandler;
}
let httpApiCode: HttpApiCode | null = null;

async function loadTransportCode(listeners: readonly ListenerConfig[]): Promise<void> {
  if (tlsCode === null && listeners.some(listenerUsesTls)) {
    const [transport, context] = await Promise.all([
      import('../transport/tls.ts'),
      import('./tls-context.ts'),
    ]);
    tlsCode = {
      TlsListener: transport.TlsListener,
      loadTls: context.loadTls,
      TlsSetupError: context.TlsSetupError,
    };
  }
  if (webSocketCode === null && listeners.some((l) => l.protocol === 'websockets')) {
    webSocketCode = await import('../transport/ws.ts');
  }
  if (httpApiCode === null && listeners.some((l) => l.protocol === 'http_api')) {
    const [server, api] = await Promise.all([
      import('../transport/http-server.ts'),
      import('./http-api/http-api.ts'),
    ]);
    httpApiCode = { HttpListener: server.HttpListener, httpApiHandler: api.httpApiHandler };
  }
}

function loadedHttpApiCode(): HttpApiCode {
  if (httpApiCode === null) {
    throw new Error('http_api listener without its code loaded (openListeners)');
  }
  return httpApiCode;
}

function loadedTlsCode(): TlsCode {
  if (tlsCode === null) throw new Error('TLS listener without its code loaded (openListeners)');
  return tlsCode;
}

function loadedWebSocketCode(): NonNullable<typeof webSocketCode> {
  if (webSocketCode === null) {
    throw new Error('WebSocket listener without its code loaded (openListeners)');
  }
  return webSocketCode;
}

// ---- Opening ---------------------------------------------------------------------------

export async function openListeners(broker: Broker): Promise<BrokerListener[]> {
  const config = broker.config;
  await loadTransportCode(config.listeners);
  const pskFiles = loadPskFiles(broker);
  const opened: BrokerListener[] = [];
  for (const listenerConfig of config.listeners) {
    const listener: BrokerListener = {
      config: listenerConfig,
      server: new ListenerSockets(),
      port: listenerConfig.port,
      ...newListenerCounters(),
    };
    const pskFile = listenerConfig.security.pskFile;
    if (pskFile !== null) listener.server.pskKeys = pskFiles.get(pskFile) ?? new Map();
    try {
      await openListener(broker, listener);
    } catch (error) {
      await listener.server.close();
      if (config.localOnly && !(error instanceof SetupFailure)) {
        broker.log.warning(`Warning: ${describeError(error)}`);
        continue;
      }
      for (const other of opened) await other.server.close();
      if (error instanceof SetupFailure) {
        for (const line of error.lines) broker.log.error(line);
      } else {
        broker.log.error(`Error: ${describeListenError(error)}`);
      }
      if (listenerConfig.protocol === 'websockets') {
        broker.log.error(
          `Error: Unable to create websockets listener on port ${listenerConfig.port}.`,
        );
      }
      throw new ListenError(describeError(error));
    }
    opened.push(listener);
  }
  if (opened.length === 0) {
    broker.log.error('Error: Unable to start any listening sockets, exiting.');
    throw new ListenError('Unable to start any listening sockets');
  }
  return opened;
}

async function openListener(broker: Broker, listener: BrokerListener): Promise<void> {
  const config = listener.config;
  if (config.protocol === 'http_api') {
    await openHttpApiListener(broker, listener);
    return;
  }
  const brokerConfig = broker.config;
  const hosts = bindHosts(broker, config);
  // Logged before binding, as Mosquitto; a picked port (0) only once it is known.
  const announced = config.port !== 0 || config.unixSocketPath !== null;
  if (announced) for (const line of familyLines(config, config.port)) broker.log.info(line);

  const websockets = config.protocol === 'websockets';
  // A websockets listener has TLS with a certificate only (no PSK over WebSockets).
  const tls =
    listenerUsesTls(config) && !(websockets && config.tls?.certfile == null)
      ? loadListenerTls(listener)
      : null;
  const tlsSettings = tls?.settings ?? null;
  let httpDir: string | null = null;
  if (websockets && config.httpDir != null) {
    try {
      httpDir = realpathSync(config.httpDir);
    } catch {
      throw new SetupFailure([`Error: Unable to open http dir "${config.httpDir}".`]);
    }
  }
  const path = config.unixSocketPath;
  if (path !== null) removeStaleSocket(path);

  const accept = (connection: Connection): void => {
    broker.acceptConnection(connection, listener);
  };
  let port = config.port;
  for (const host of hosts) {
    // Always TCP_NODELAY (set_tcp_nodelay is accepted): each client is written once per
    // event-loop turn already, so Nagle has nothing to merge and only adds delayed-ACK stalls.
    const base: StreamListenOptions = { port, host, path, noDelay: true };
    let endpoint: Endpoint;
    if (websockets) {
      endpoint = new (loadedWebSocketCode().WebSocketListener)(
        {
          ...base,
          maxPayload: webSocketMaxPayload(brokerConfig),
          maxHeaderSize: brokerConfig.websocketsHeadersSize ?? 0,
          httpDir,
          tls: tlsSettings,
          handshakeTimeoutMs: CONNECT_DEADLINE_MS,
        },
        accept,
        (file) => {
          broker.log.debug(`http serving file "${file}".`);
        },
      );
    } else if (tlsSettings !== null) {
      endpoint = new (loadedTlsCode().TlsListener)(
        { ...base, tls: tlsSettings, handshakeTimeoutMs: CONNECT_DEADLINE_MS },
        accept,
        (failure) => {
          logHandshakeFailure(broker, listener, failure);
        },
      );
    } else {
      endpoint = new StreamListener(base, accept);
    }
    listener.server.endpoints.push(endpoint);
    await endpoint.listen();
    port = endpoint.port;
  }
  if (path !== null) restrictSocketMode(path);
  listener.port = listener.server.endpoints[0]?.port ?? config.port;
  if (!announced) for (const line of familyLines(config, listener.port)) broker.log.info(line);
  if (tls !== null && config.tls?.reloadOnChange === true) {
    startWatching(broker, listener, tls.files);
  }
}

/**
 * A `protocol http_api` listener (Mosquitto 2.1): HTTP, or HTTPS with certfile and
 * keyfile, answering the broker's HTTP routes; logged once bound, as 2.1 does.
 */
async function openHttpApiListener(broker: Broker, listener: BrokerListener): Promise<void> {
  const config = listener.config;
  let httpDir: string | null = null;
  if (config.httpDir != null) {
    try {
      httpDir = realpathSync(config.httpDir);
    } catch {
      throw new SetupFailure([`Error: Unable to open http dir "${config.httpDir}".`]);
    }
  }
  const tlsConfig = config.tls ?? null;
  const https = tlsConfig?.certfile != null && tlsConfig.keyfile != null;
  const tls = https ? loadListenerTls(listener).settings.context : null;
  const { HttpListener, httpApiHandler } = loadedHttpApiCode();
  const endpoint = new HttpListener(
    {
      port: config.port,
      host: config.bindAddress,
      tls,
      handshakeTimeoutMs: CONNECT_DEADLINE_MS,
      onConnection: (socket) => {
        listener.socketsAccepted++;
        listener.connectionCount++;
        socket.once('close', () => {
          listener.connectionCount--;
        });
      },
    },
    httpApiHandler({
      routes: broker.httpRoutes,
      httpDir,
      listener,
      allowed: (username, password, path, address) =>
        broker.security.httpRequestAllowed(
          config,
          {
            clientId: 'http-api',
            username,
            address,
            protocolVersion: 0,
            listenerPort: listener.port,
          },
          password,
          path,
        ),
      onServe: (file) => {
        broker.log.debug(`http serving file "${file}".`);
      },
    }),
  );
  listener.server.endpoints.push(endpoint);
  await endpoint.listen();
  listener.port = endpoint.port;
  broker.stats.watchEventLoop();
  for (const line of familyLines(config, listener.port)) broker.log.info(line);
}

/**
 * The addresses to bind: the configured one (or every interface), or with bind_interface
 * the interface's address of each family (Mosquitto 2.0 looks them up with getifaddrs
 * rather than using SO_BINDTODEVICE, so the listener follows the address, not the link).
 */
function bindHosts(broker: Broker, config: ListenerConfig): (string | null)[] {
  if (config.unixSocketPath !== null) return [null];
  let host = config.bindAddress;
  const name = config.bindInterface ?? null;
  if (name === null) {
    if (host === null && config.socketDomain === 'ipv4') host = '0.0.0.0';
    if (host === null && config.socketDomain === 'ipv6') host = '::';
    return [host];
  }
  const interfaces = networkInterfaces();
  const found = Object.keys(interfaces).find((n) => n.toLowerCase() === name.toLowerCase());
  if (found === undefined) throw new SetupFailure([`Error: Interface ${name} does not exist.`]);
  let families: ('IPv4' | 'IPv6')[] = ['IPv4', 'IPv6'];
  if (config.socketDomain === 'ipv4') families = ['IPv4'];
  else if (config.socketDomain === 'ipv6') families = ['IPv6'];
  else if (host !== null) families = [isIPv6(host) ? 'IPv6' : 'IPv4'];
  const hosts: string[] = [];
  for (const family of families) {
    const info = (interfaces[found] ?? []).find((address) => address.family === family);
    if (info === undefined) {
      broker.log.warning(`Warning: Interface ${name} does not support ${family} configuration.`);
      continue;
    }
    if (host !== null && host !== info.address) {
      throw new SetupFailure([
        `Error: Interface address for ${name} does not match specified listener address (${host}).`,
      ]);
    }
    hosts.push(
      info.scopeid !== undefined && info.scopeid !== 0 ? `${info.address}%${found}` : info.address,
    );
  }
  if (hosts.length === 0) throw new SetupFailure([]);
  return hosts;
}

/**
 * The largest WebSocket message: a whole MQTT packet at most. ws joins a message's
 * frames before handing it over, so the limit is also what one client may make us hold.
 */
function webSocketMaxPayload(config: BrokerConfig): number {
  if (config.maxPacketSize > 0) return config.maxPacketSize;
  // Room for the topic and properties around a payload of the largest allowed size.
  if (config.messageSizeLimit > 0) return config.messageSizeLimit + 2 * 65_536;
  return MQTT_MAX_PACKET;
}

// ---- TLS ------------------------------------------------------------------------------

function loadListenerTls(listener: BrokerListener): LoadedTls {
  const config = listener.config;
  const useIdentity = config.tls?.useIdentityAsUsername === true;
  // The PSK identity becomes the username: one that is not valid MQTT UTF-8 fails the
  // handshake (psk_server_callback).
  const keyOf = (identity: string): Buffer | null => {
    if (useIdentity && checkMqttString(identity) !== Utf8Problem.None) return null;
    const key = listener.server.pskKeys.get(identity);
    return key === undefined || key.length === 0 ? null : key;
  };
  const code = loadedTlsCode();
  try {
    return code.loadTls(config, keyOf);
  } catch (error) {
    if (error instanceof code.TlsSetupError) throw new SetupFailure(error.lines);
    throw error;
  }
}

/** What Mosquitto logs for a connection whose TLS handshake failed. */
function logHandshakeFailure(
  broker: Broker,
  listener: BrokerListener,
  failure: TlsHandshakeFailure,
): void {
  if (broker.isClosing) return;
  broker.metrics.socketConnections++;
  listener.socketsAccepted++;
  const log = broker.log;
  const messages = broker.config.log.connectionMessages;
  if (messages && failure.remoteAddress !== '') {
    log.notice(
      `New connection from ${failure.remoteAddress}:${failure.remotePort} on port ${listener.port}.`,
    );
  }
  if (failure.timedOut) {
    if (messages) log.notice('Client <unknown> has exceeded timeout, disconnecting.');
    return;
  }
  const queue = failure.errorQueue ?? [failure.reason];
  queue.forEach((error, i) => {
    log.error(`OpenSSL Error[${String(i)}]: ${error}`);
  });
  if (messages) log.notice('Client <unknown> disconnected: Protocol error.');
}

/**
 * Reads a listener's TLS files again; new handshakes use them, connected clients keep
 * theirs. On failure the previous settings stay and Mosquitto's error is logged.
 */
function reloadListenerTls(broker: Broker, listener: BrokerListener): boolean {
  const config = listener.config;
  let settings: TlsServerSettings;
  try {
    settings = loadListenerTls(listener).settings;
  } catch (error) {
    if (!(error instanceof SetupFailure)) throw error;
    for (const line of error.lines) broker.log.error(line);
    const tlsConfig = config.tls;
    if (tlsConfig?.certfile != null) {
      broker.log.error(
        `Error when reloading certificate '${tlsConfig.certfile}' or key '${tlsConfig.keyfile ?? ''}'.`,
      );
    }
    return false;
  }
  for (const endpoint of listener.server.endpoints) {
    if (httpApiCode !== null && endpoint instanceof httpApiCode.HttpListener) {
      endpoint.setContext(settings.context);
    } else if (!(endpoint instanceof StreamListener)) endpoint.setContext(settings);
  }
  return true;
}

function startWatching(broker: Broker, listener: BrokerListener, files: readonly string[]): void {
  listener.server.watcher = new CertificateWatcher(files, () => {
    if (broker.isClosing) return;
    if (reloadListenerTls(broker, listener)) {
      broker.log.notice(
        `TLS certificate files changed: reloaded them for new connections on port ${listener.port}.`,
      );
    }
  });
}

// ---- psk_file -------------------------------------------------------------------------

/** The psk_file of each listener (or the global one), loaded or fatal as Mosquitto. */
function loadPskFiles(broker: Broker): Map<string, ReadonlyMap<string, Buffer>> {
  const files = new Map<string, ReadonlyMap<string, Buffer>>();
  for (const path of pskFilePaths(broker.config)) {
    if (files.has(path)) continue;
    try {
      const loaded = readPskFile(path);
      for (const warning of loaded.warnings) broker.log.notice(warning);
      files.set(path, loaded.keys);
    } catch (error) {
      if (!(error instanceof PskFileError)) throw error;
      for (const line of error.lines) broker.log.error(line);
      throw new ListenError(error.message, error.exitCode);
    }
  }
  return files;
}

function pskFilePaths(config: BrokerConfig): string[] {
  const paths = config.perListenerSettings
    ? config.listeners.map((listener) => listener.security.pskFile)
    : [config.security.pskFile];
  return paths.filter((path): path is string => path !== null);
}

/**
 * SIGHUP: every TLS listener reads its certificate, key, CA and CRL files again and
 * every psk_file is re-read (Mosquitto: listeners__reload_all_certificates and the
 * security re-init). Errors are logged and the previous material stays in use.
 */
export function reloadListeners(broker: Broker): void {
  const config = broker.config;
  const keys = new Map<string, ReadonlyMap<string, Buffer> | null>();
  for (const listener of broker.listenerSockets) {
    const path = config.perListenerSettings
      ? listener.config.security.pskFile
      : config.security.pskFile;
    if (path !== null) {
      if (!keys.has(path)) {
        try {
          const loaded = readPskFile(path);
          for (const warning of loaded.warnings) broker.log.notice(warning);
          keys.set(path, loaded.keys);
        } catch (error) {
          if (!(error instanceof PskFileError)) throw error;
          for (const line of error.lines) broker.log.error(line);
          keys.set(path, null);
        }
      }
      const loaded = keys.get(path);
      if (loaded != null) listener.server.pskKeys = loaded;
    }
    if (listenerUsesTls(listener.config)) reloadListenerTls(broker, listener);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeListenError(error: unknown): string {
  if (error instanceof Error && 'code' in error) {
    switch (error.code) {
      case 'EADDRINUSE':
        return 'Address already in use';
      case 'EACCES':
        return 'Permission denied';
      case 'EADDRNOTAVAIL':
        return 'Cannot assign requested address';
      default:
        break;
    }
  }
  return describeError(error);
}
