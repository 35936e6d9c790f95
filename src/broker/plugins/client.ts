/** A connection's client as plugin events describe it. */
import type { ClientConnection } from '../client-connection.ts';
import type { PluginClient } from './api.ts';

/** Valid from the CONNECT on (client id, username and protocol version are known then). */
export function pluginClientOf(conn: ClientConnection): PluginClient {
  return {
    clientId: conn.clientId,
    username: conn.username,
    address: conn.transport.remoteAddress,
    protocolVersion: conn.protocolVersion,
    listenerPort: conn.listener.port,
  };
}
