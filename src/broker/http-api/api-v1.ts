/**
 * Mosquitto 2.1's HTTP API (http_api.c): `/api/v1/systree`, `/api/v1/listeners` and
 * `/api/v1/version`, with its JSON (cJSON_Print's layout, keys in its order) and its
 * `Access-Control-Allow-Origin: *`. Our values are live where 2.1 reports those of its
 * last `$SYS` update, and the version names us too (DEVIATIONS.md).
 */
import { cjsonPrint } from '../../common/cjson.ts';
import type { CJsonValue } from '../../common/cjson.ts';
import { BROKER_VERSION_TEXT } from '../version.ts';
import type { BrokerStats } from '../observability/broker-stats.ts';
import type { HttpApiAnswer, HttpApiRoute } from './routes.ts';

function ok(body: string): HttpApiAnswer {
  return { status: 200, body, headers: { 'Access-Control-Allow-Origin': '*' } };
}

/** `/api/v1/systree`: the `$SYS` numbers as one object, in sys_tree.c's metric order. */
export function systreeJson(stats: BrokerStats): Record<string, number> {
  const m = stats.metrics;
  const g = stats.gauges();
  return {
    '$SYS/broker/clients/total': g.clientsTotal,
    '$SYS/broker/clients/maximum': g.clientsMaximum,
    '$SYS/broker/clients/disconnected': g.clientsDisconnected,
    '$SYS/broker/clients/connected': g.clientsConnected,
    '$SYS/broker/clients/expired': m.clientsExpired,
    '$SYS/broker/messages/stored': g.storedMessages,
    '$SYS/broker/store/messages/bytes': g.storedBytes,
    '$SYS/broker/subscriptions/count': g.subscriptions,
    '$SYS/broker/shared_subscriptions/count': g.sharedSubscriptions,
    '$SYS/broker/retained messages/count': g.retainedMessages,
    '$SYS/broker/heap/current': g.heapUsedBytes,
    '$SYS/broker/heap/maximum': g.heapMaximumBytes,
    '$SYS/broker/messages/received': m.messagesReceived,
    '$SYS/broker/messages/sent': m.messagesSent,
    '$SYS/broker/bytes/received': m.bytesReceived,
    '$SYS/broker/bytes/sent': m.bytesSent,
    '$SYS/broker/publish/bytes/received': m.publishBytesReceived,
    '$SYS/broker/publish/bytes/sent': m.publishBytesSent,
    '$SYS/broker/packet/out/count': g.outPackets,
    '$SYS/broker/packet/out/bytes': g.outBytes,
    '$SYS/broker/connections/socket/count': m.socketConnections,
    '$SYS/broker/publish/messages/dropped': m.publishDropped,
    '$SYS/broker/publish/messages/received': m.publishReceived,
    '$SYS/broker/publish/messages/sent': m.publishSent,
    '$SYS/broker/uptime': g.uptimeSeconds,
  };
}

/** `/api/v1/listeners`: every configured listener, as http_api__process_listeners(). */
export function listenersJson(stats: BrokerStats): { listeners: Record<string, CJsonValue>[] } {
  return {
    listeners: stats.listeners.map((listener) => {
      const config = listener.config;
      const where: Record<string, CJsonValue> =
        config.unixSocketPath !== null ? { path: config.unixSocketPath } : { port: listener.port };
      const tls = config.tls ?? null;
      return {
        ...where,
        protocol: config.protocol === 'http_api' ? 'httpapi' : config.protocol,
        tls: tls !== null && tls.certfile != null && tls.keyfile != null,
        mtls: tls?.requireCertificate === true,
        allow_anonymous: config.security.allowAnonymous,
      };
    }),
  };
}

/** The three `/api/v1/` routes. */
export function apiV1Routes(stats: BrokerStats): HttpApiRoute[] {
  return [
    { path: '/api/v1/systree', handle: () => ok(cjsonPrint(systreeJson(stats))) },
    {
      path: '/api/v1/listeners',
      handle: () => ok(cjsonPrint(listenersJson(stats))),
    },
    { path: '/api/v1/version', handle: () => ok(BROKER_VERSION_TEXT) },
  ];
}
