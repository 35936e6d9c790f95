/**
 * Where and how to reach the broker: ConnectOptions (and their URL) resolved into one
 * Endpoint, and the byte stream opened for it. TLS, WebSockets and SOCKS are imported on
 * first use only, so a plain TCP client (the command-line tools' usual case) never loads
 * node:tls or ws.
 */
import type { Duplex } from 'node:stream';
import { ProtocolVersion } from '../protocol/constants.ts';
import { connectTcp, connectUnix } from '../transport/tcp-client.ts';
import { ClientErrorCode, MosqErr, MqttClientError } from './errors.ts';
import type { ConnectOptions, ProxyOptions, TlsOptions } from './options.ts';
import { parseBrokerUrl } from './url.ts';

export interface Endpoint {
  readonly transport: 'tcp' | 'tls' | 'ws' | 'wss' | 'unix';
  readonly host: string;
  readonly port: number;
  readonly unixPath: string;
  readonly wsPath: string;
  readonly wsHeaders: Readonly<Record<string, string>> | undefined;
  readonly tls: TlsOptions | null;
  readonly proxy: ProxyOptions | null;
  readonly localAddress: string | undefined;
  readonly noDelay: boolean;
}

export interface EndpointCredentials {
  readonly username: string | undefined;
  readonly password: string | undefined;
}

const DEFAULT_PORTS = { tcp: 1883, tls: 8883, ws: 80, wss: 443, unix: 0 } as const;

export function resolveEndpoint(options: ConnectOptions): {
  endpoint: Endpoint;
  credentials: EndpointCredentials;
} {
  const url = options.url === undefined ? null : parseBrokerUrl(options.url);
  let transport: Endpoint['transport'] = url?.transport ?? 'tcp';
  if (options.unixPath !== undefined) transport = 'unix';
  const wantsTls = options.tls !== undefined && options.tls !== false;
  const webSocket = options.webSocket;
  if (webSocket !== undefined && webSocket !== false) transport = wantsTls ? 'wss' : 'ws';
  else if (transport === 'tcp' && wantsTls) transport = 'tls';
  const tls: TlsOptions | null =
    transport === 'tls' || transport === 'wss'
      ? typeof options.tls === 'object'
        ? options.tls
        : {}
      : null;
  const wsPath =
    (typeof webSocket === 'object' ? webSocket.path : undefined) ??
    (url !== null && (url.transport === 'ws' || url.transport === 'wss') && url.path !== ''
      ? url.path
      : '/mqtt');
  const endpoint: Endpoint = {
    transport,
    host: options.host ?? (url?.host !== undefined && url.host !== '' ? url.host : 'localhost'),
    port: options.port ?? url?.port ?? DEFAULT_PORTS[transport],
    unixPath: options.unixPath ?? (url?.transport === 'unix' ? url.path : ''),
    wsPath,
    wsHeaders: typeof webSocket === 'object' ? webSocket.headers : undefined,
    tls,
    proxy: options.proxy ?? null,
    localAddress: options.localAddress,
    noDelay: options.noDelay ?? false,
  };
  return {
    endpoint,
    credentials: { username: url?.username, password: url?.password },
  };
}

/** Maps a socket-level failure to the client's error (lookup vs errno). */
export function socketFailure(error: unknown): MqttClientError {
  if (error instanceof MqttClientError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL') {
    return new MqttClientError(ClientErrorCode.LookupFailed, MosqErr.Eai, 'Lookup error.', {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new MqttClientError(ClientErrorCode.SocketError, MosqErr.Errno, message, {
    cause: error,
  });
}

function tlsFailure(error: unknown): MqttClientError {
  if (error instanceof MqttClientError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new MqttClientError(ClientErrorCode.Tls, MosqErr.Tls, message, { cause: error });
}

/** Opens the byte stream to the broker (paused: the caller attaches its readers and resumes). */
export async function openStream(
  endpoint: Endpoint,
  version: ProtocolVersion,
  signal: AbortSignal | undefined,
): Promise<Duplex> {
  // Read certificate files first: a missing file is reported before any connection.
  const tlsModule = endpoint.tls === null ? null : await import('./tls-material.ts');
  const material =
    tlsModule === null || endpoint.tls === null
      ? null
      : tlsModule.loadTlsMaterial(endpoint.tls, endpoint.host);

  if (endpoint.transport === 'ws' || endpoint.transport === 'wss') {
    // The WebSocket client has no hook for the stapled response; refusing is safer than
    // connecting without the check that was asked for.
    if (material?.requireOcsp === true) {
      throw new MqttClientError(
        ClientErrorCode.InvalidArgument,
        MosqErr.NotSupported,
        'OCSP stapling is not supported over WebSockets',
      );
    }
    const { connectWebSocket } = await import('../transport/ws-client.ts');
    const scheme = endpoint.transport;
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    try {
      return await connectWebSocket({
        url: `${scheme}://${host}:${endpoint.port}${endpoint.wsPath}`,
        protocol: version === ProtocolVersion.V31 ? 'mqttv3.1' : 'mqtt',
        ...(material === null
          ? {}
          : {
              ca: material.ca,
              insecure: material.insecure,
              ...(material.cert === undefined ? {} : { cert: material.cert }),
              ...(material.key === undefined ? {} : { key: material.key }),
            }),
        ...(endpoint.wsHeaders === undefined ? {} : { headers: endpoint.wsHeaders }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      throw socketFailure(error);
    }
  }

  let socket: Duplex;
  try {
    if (endpoint.transport === 'unix') {
      socket = await connectUnix(endpoint.unixPath, signal);
    } else if (endpoint.proxy !== null) {
      socket = await connectThroughProxy(endpoint, endpoint.proxy, signal);
    } else {
      socket = await connectTcp({
        host: endpoint.host,
        port: endpoint.port,
        noDelay: endpoint.noDelay,
        ...(endpoint.localAddress === undefined ? {} : { localAddress: endpoint.localAddress }),
        ...(signal === undefined ? {} : { signal }),
      });
    }
  } catch (error) {
    throw socketFailure(error);
  }
  if (material === null) {
    socket.pause();
    return socket;
  }
  const { startTls } = await import('../transport/tls-client.ts');
  try {
    const secure = await startTls(socket, {
      ...material,
      ...(signal === undefined ? {} : { signal }),
    });
    secure.pause();
    return secure;
  } catch (error) {
    throw tlsFailure(error);
  }
}

async function connectThroughProxy(
  endpoint: Endpoint,
  proxy: ProxyOptions,
  signal: AbortSignal | undefined,
): Promise<Duplex> {
  const socket = await connectTcp({
    host: proxy.host,
    port: proxy.port ?? 1080,
    noDelay: endpoint.noDelay,
    ...(endpoint.localAddress === undefined ? {} : { localAddress: endpoint.localAddress }),
    ...(signal === undefined ? {} : { signal }),
  });
  const { socks5Handshake } = await import('../transport/socks5-client.ts');
  try {
    await socks5Handshake(socket, {
      host: endpoint.host,
      port: endpoint.port,
      ...(proxy.username === undefined ? {} : { username: proxy.username }),
      ...(proxy.password === undefined ? {} : { password: proxy.password }),
    });
  } catch (error) {
    socket.destroy();
    const message = error instanceof Error ? error.message : String(error);
    throw new MqttClientError(ClientErrorCode.Proxy, MosqErr.Proxy, message, { cause: error });
  }
  return socket;
}
