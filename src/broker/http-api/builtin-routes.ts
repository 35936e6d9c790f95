/**
 * The routes every http_api listener has: Mosquitto 2.1's `/api/v1/...` and our
 * `/metrics`. Other features add theirs to the same table (Broker.httpRoutes).
 */
import type { BrokerStats } from '../observability/broker-stats.ts';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '../observability/prometheus.ts';
import { apiV1Routes } from './api-v1.ts';
import { HttpApiRoutes } from './routes.ts';

export function builtinRoutes(stats: BrokerStats): HttpApiRoutes {
  const routes = new HttpApiRoutes();
  for (const route of apiV1Routes(stats)) routes.add(route);
  routes.add({
    path: '/metrics',
    handle: () => ({
      status: 200,
      body: renderPrometheus(stats),
      headers: { 'Content-Type': PROMETHEUS_CONTENT_TYPE },
    }),
  });
  return routes;
}
