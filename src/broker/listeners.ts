/**
 * Opening the configured listeners (Mosquitto's listeners__start): TCP on an address or
 * all interfaces, or a unix socket, with Mosquitto's log lines. In local-only mode
 * (no listener configured) a failure on one of 127.0.0.1 / ::1 is tolerated as long as
 * one opens.
 */
import type { ListenerConfig } from './config/types.ts';
import { StreamListener } from '../transport/tcp.ts';
import type { Broker } from './broker.ts';

export interface BrokerListener {
  readonly config: ListenerConfig;
  readonly server: StreamListener;
  /** The bound port (the configured one, or the one picked for port 0). */
  port: number;
  connectionCount: number;
}

/** Thrown when no listening socket could be opened (Mosquitto exits with 1). */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

function familyLines(config: ListenerConfig, port: number): string[] {
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

export async function openListeners(broker: Broker): Promise<BrokerListener[]> {
  const opened: BrokerListener[] = [];
  const config = broker.config;
  for (const listenerConfig of config.listeners) {
    if (listenerConfig.protocol !== 'mqtt') {
      broker.log.warning(
        `Warning: ${listenerConfig.protocol} listeners are not supported yet; port ${listenerConfig.port} not opened.`,
      );
      continue;
    }
    let host = listenerConfig.bindAddress;
    if (host === null && listenerConfig.socketDomain === 'ipv4') host = '0.0.0.0';
    if (host === null && listenerConfig.socketDomain === 'ipv6') host = '::';
    const listener: BrokerListener = {
      config: listenerConfig,
      server: new StreamListener(
        {
          port: listenerConfig.port,
          host,
          path: listenerConfig.unixSocketPath,
          noDelay: config.setTcpNodelay,
        },
        (connection) => {
          broker.acceptConnection(connection, listener);
        },
      ),
      port: listenerConfig.port,
      connectionCount: 0,
    };
    // Logged before binding, as Mosquitto; a picked port (0) only once it is known.
    const announced = listenerConfig.port !== 0 || listenerConfig.unixSocketPath !== null;
    if (announced) {
      for (const line of familyLines(listenerConfig, listenerConfig.port)) broker.log.info(line);
    }
    try {
      await listener.server.listen();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (config.localOnly) {
        broker.log.warning(`Warning: ${message}`);
        continue;
      }
      for (const other of opened) await other.server.close();
      broker.log.error(`Error: ${describeListenError(error)}`);
      throw new ListenError(message);
    }
    listener.port = listener.server.port;
    if (!announced) {
      for (const line of familyLines(listenerConfig, listener.port)) broker.log.info(line);
    }
    opened.push(listener);
  }
  if (opened.length === 0) {
    broker.log.error('Error: Unable to start any listening sockets, exiting.');
    throw new ListenError('Unable to start any listening sockets');
  }
  return opened;
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
  return error instanceof Error ? error.message : String(error);
}
