/**
 * The JSON each dashboard page polls: overview, clients, topics, listeners (with their
 * TLS certificates' expiry) and bridges. Pure reads of the broker's registries.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConnectionState } from '../client-connection.ts';
import type { ListenerConfig } from '../config/types.ts';
import type { DashboardHost } from './host.ts';
import type { RateHistory } from './rates.ts';

/** Chart resolution: the hour as 360 points of ten seconds. */
const CHART_BUCKET_SECONDS = 10;
/** Rows of the topics page at most (the busiest first). */
const MAX_TOPIC_ROWS = 500;

export function overviewJson(host: DashboardHost, rates: RateHistory): object {
  const latest = rates.latest();
  let connected = 0;
  for (const conn of host.connections) if (conn.state === ConnectionState.Connected) connected++;
  return {
    clientsConnected: connected,
    sessions: host.sessions.size,
    retained: host.retained.size,
    messagesInPerSecond: latest.in,
    messagesOutPerSecond: latest.out,
    publishReceived: host.metrics.publishReceived,
    publishSent: host.metrics.publishSent,
    uptimeSeconds: Math.floor((host.clock.now() - host.startedAt) / 1000),
    history: rates.history(CHART_BUCKET_SECONDS),
    bucketSeconds: CHART_BUCKET_SECONDS,
  };
}

function protocolName(version: number): string {
  if (version === 5) return 'MQTT 5.0';
  if (version === 4) return 'MQTT 3.1.1';
  return 'MQTT 3.1';
}

export function clientsJson(host: DashboardHost): object {
  const clients = [];
  for (const conn of host.connections) {
    if (conn.state !== ConnectionState.Connected) continue;
    const transport = conn.listener.config.protocol === 'websockets' ? ' over WebSockets' : '';
    clients.push({
      clientId: conn.clientId,
      address: conn.transport.remoteAddress,
      port: conn.transport.remotePort,
      protocol: protocolName(conn.protocolVersion) + transport,
      username: conn.username,
      // keepaliveMs is the deadline, 1.5 times the client's keep alive.
      keepalive: Math.round(conn.keepaliveMs / 1500),
      queued: conn.session?.queue.length ?? 0,
      inflight: conn.session?.inflight.size ?? 0,
      connectedSince: conn.connectedAt,
      bridge: conn.bridge?.name ?? null,
      listenerPort: conn.listener.port,
    });
  }
  clients.sort((a, b) => a.clientId.localeCompare(b.clientId));
  return { clients };
}

export function topicsJson(host: DashboardHost, rates: RateHistory): object {
  const rows = new Map<
    string,
    { topic: string; rate: number; retainedBytes: number | null; qos: number | null }
  >();
  for (const [topic, rate] of rates.topicRates()) {
    rows.set(topic, { topic, rate, retainedBytes: null, qos: null });
  }
  host.retained.forEach((topic, message, into) => {
    const row = into.get(topic);
    if (row !== undefined) {
      row.retainedBytes = message.payload.length;
      row.qos = message.qos;
    } else {
      into.set(topic, { topic, rate: 0, retainedBytes: message.payload.length, qos: message.qos });
    }
  }, rows);
  const sorted = [...rows.values()].sort(
    (a, b) => b.rate - a.rate || a.topic.localeCompare(b.topic),
  );
  return {
    topics: sorted.slice(0, MAX_TOPIC_ROWS),
    total: sorted.length,
    retained: host.retained.size,
  };
}

/** A certificate file's subject and expiry (its first certificate), or why not. */
export function certificateExpiry(
  path: string,
): { subject: string; validTo: string; daysLeft: number } | { error: string } {
  try {
    const certificate = new X509Certificate(readFileSync(path));
    const validTo = new Date(certificate.validTo);
    return {
      subject: certificate.subject.replace(/\n/g, ', '),
      validTo: validTo.toISOString(),
      daysLeft: Math.floor((validTo.getTime() - Date.now()) / 86_400_000),
    };
  } catch (error) {
    return { error: `cannot read ${path}: ${(error as Error).message}` };
  }
}

function listenerAddress(config: ListenerConfig, port: number): string {
  if (config.unixSocketPath !== null) return config.unixSocketPath;
  const host = config.bindAddress ?? '*';
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function listenersJson(host: DashboardHost): object {
  return {
    listeners: host.listenerSockets.map((listener) => {
      const config = listener.config;
      const certfile = config.tls?.certfile ?? null;
      return {
        address: listenerAddress(config, listener.port),
        protocol: config.protocol,
        tls: certfile === null ? null : { certfile, ...certificateExpiry(certfile) },
        requireCertificate: config.tls?.requireCertificate === true,
        allowAnonymous: config.security.allowAnonymous,
      };
    }),
  };
}

export function bridgesJson(host: DashboardHost): object {
  return { bridges: host.bridgeStates().map(({ name, state }) => ({ name, state })) };
}
