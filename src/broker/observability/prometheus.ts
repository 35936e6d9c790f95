/**
 * `/metrics` in Prometheus' text exposition format (version 0.0.4): every family with
 * its `# HELP` and `# TYPE`, named as Prometheus recommends (`mosquitto_` prefix, base
 * units in the name, `_total` on counters). The numbers are BrokerStats', the same ones
 * `$SYS` and `/api/v1/systree` report.
 */
import { BROKER_VERSION, IMPLEMENTATION_VERSION } from '../version.ts';
import type { BrokerStats, ObservedListener } from './broker-stats.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [labels: Labels, value: number];

/** Builds the exposition text family by family. */
class Exposition {
  #text = '';

  family(
    name: string,
    type: 'counter' | 'gauge' | 'summary',
    help: string,
    samples: readonly Sample[],
  ): void {
    this.#text += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
    for (const [labels, value] of samples) this.sample(name, labels, value);
  }

  sample(name: string, labels: Labels, value: number): void {
    this.#text += `${name}${formatLabels(labels)} ${formatValue(value)}\n`;
  }

  one(name: string, type: 'counter' | 'gauge', help: string, value: number): void {
    this.family(name, type, help, [[{}, value]]);
  }

  get text(): string {
    return this.#text;
  }
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** How a listener is named in labels: its port, or its unix socket path. */
export function listenerLabel(listener: ObservedListener): Labels {
  const config = listener.config;
  return {
    listener: config.unixSocketPath ?? String(listener.port),
    protocol: config.protocol,
  };
}

const QOS_LEVELS = ['0', '1', '2'] as const;
const BRIDGE_STATES = ['down', 'connecting', 'up', 'stopped'] as const;

export function renderPrometheus(stats: BrokerStats): string {
  const m = stats.metrics;
  const g = stats.gauges();
  const out = new Exposition();
  out.family(
    'mosquitto_build_info',
    'gauge',
    'The Mosquitto version reproduced and the mosquitto-ts version answering (always 1).',
    [
      [
        {
          version: BROKER_VERSION,
          implementation: 'mosquitto-ts',
          implementation_version: IMPLEMENTATION_VERSION,
        },
        1,
      ],
    ],
  );
  out.one(
    'mosquitto_uptime_seconds',
    'gauge',
    'Seconds since the broker started.',
    g.uptimeSeconds,
  );

  // Clients.
  out.one(
    'mosquitto_clients_connected',
    'gauge',
    'Clients with an open connection.',
    g.clientsConnected,
  );
  out.one(
    'mosquitto_clients_disconnected',
    'gauge',
    'Sessions kept without a connection.',
    g.clientsDisconnected,
  );
  out.one(
    'mosquitto_clients_maximum',
    'gauge',
    'The most sessions seen at once.',
    g.clientsMaximum,
  );
  out.one(
    'mosquitto_clients_expired_total',
    'counter',
    'Sessions removed because their expiry interval passed.',
    m.clientsExpired,
  );
  out.one('mosquitto_connects_total', 'counter', 'CONNECTs accepted.', m.connectCount);
  out.one(
    'mosquitto_auth_failures_total',
    'counter',
    'CONNECTs (and re-authentications) refused for their credentials.',
    m.authFailures,
  );
  out.family('mosquitto_acl_denied_total', 'counter', 'Requests refused by an ACL.', [
    [{ access: 'publish' }, m.aclDeniedPublish],
    [{ access: 'subscribe' }, m.aclDeniedSubscribe],
    [{ access: 'receive' }, m.droppedAclRead],
  ]);
  out.one(
    'mosquitto_wills_published_total',
    'counter',
    'Will messages published.',
    m.willsPublished,
  );

  // Listeners.
  const listeners = stats.listeners;
  out.family(
    'mosquitto_listener_connections',
    'gauge',
    'Open connections per listener.',
    listeners.map((l) => [listenerLabel(l), l.connectionCount]),
  );
  out.family(
    'mosquitto_listener_accepted_connections_total',
    'counter',
    'Sockets accepted per listener.',
    listeners.map((l) => [listenerLabel(l), l.socketsAccepted]),
  );
  out.family(
    'mosquitto_listener_received_bytes_total',
    'counter',
    'Bytes received per listener.',
    listeners.map((l) => [listenerLabel(l), l.bytesReceived]),
  );
  out.family(
    'mosquitto_listener_sent_bytes_total',
    'counter',
    'Bytes sent per listener.',
    listeners.map((l) => [listenerLabel(l), l.bytesSent]),
  );
  out.family(
    'mosquitto_listener_received_publish_messages_total',
    'counter',
    'PUBLISH packets received per listener.',
    listeners.map((l) => [listenerLabel(l), l.publishReceived]),
  );
  out.family(
    'mosquitto_listener_sent_publish_messages_total',
    'counter',
    'PUBLISH packets sent per listener.',
    listeners.map((l) => [listenerLabel(l), l.publishSent]),
  );
  out.family(
    'mosquitto_listener_received_publish_bytes_total',
    'counter',
    'PUBLISH payload bytes received per listener.',
    listeners.map((l) => [listenerLabel(l), l.publishBytesReceived]),
  );
  out.family(
    'mosquitto_listener_sent_publish_bytes_total',
    'counter',
    'PUBLISH payload bytes sent per listener.',
    listeners.map((l) => [listenerLabel(l), l.publishBytesSent]),
  );

  // Traffic.
  out.one(
    'mosquitto_received_packets_total',
    'counter',
    'MQTT packets received.',
    m.messagesReceived,
  );
  out.one('mosquitto_sent_packets_total', 'counter', 'MQTT packets sent.', m.messagesSent);
  out.one('mosquitto_received_bytes_total', 'counter', 'Bytes received.', m.bytesReceived);
  out.one('mosquitto_sent_bytes_total', 'counter', 'Bytes sent.', m.bytesSent);
  const receivedByQos = [m.publishReceivedQos0, m.publishReceivedQos1, m.publishReceivedQos2];
  const sentByQos = [m.publishSentQos0, m.publishSentQos1, m.publishSentQos2];
  const receivedBytesByQos = [
    m.publishBytesReceivedQos0,
    m.publishBytesReceivedQos1,
    m.publishBytesReceivedQos2,
  ];
  const sentBytesByQos = [m.publishBytesSentQos0, m.publishBytesSentQos1, m.publishBytesSentQos2];
  out.family(
    'mosquitto_received_publish_messages_total',
    'counter',
    'PUBLISH packets received, by QoS.',
    QOS_LEVELS.map((qos, i) => [{ qos }, receivedByQos[i] ?? 0]),
  );
  out.family(
    'mosquitto_sent_publish_messages_total',
    'counter',
    'PUBLISH packets sent, by QoS.',
    QOS_LEVELS.map((qos, i) => [{ qos }, sentByQos[i] ?? 0]),
  );
  out.family(
    'mosquitto_received_publish_bytes_total',
    'counter',
    'PUBLISH payload bytes received, by QoS.',
    QOS_LEVELS.map((qos, i) => [{ qos }, receivedBytesByQos[i] ?? 0]),
  );
  out.family(
    'mosquitto_sent_publish_bytes_total',
    'counter',
    'PUBLISH payload bytes sent, by QoS.',
    QOS_LEVELS.map((qos, i) => [{ qos }, sentBytesByQos[i] ?? 0]),
  );
  out.family('mosquitto_dropped_messages_total', 'counter', 'Messages dropped, by reason.', [
    [{ reason: 'queue_full' }, m.publishDropped],
    [{ reason: 'expired' }, m.droppedExpired],
    [{ reason: 'too_large_for_client' }, m.droppedTooLargeOut],
    [{ reason: 'message_size_limit' }, m.droppedTooLargeIn],
    [{ reason: 'acl_denied' }, m.droppedAclRead],
  ]);

  // Stored state.
  out.one('mosquitto_retained_messages', 'gauge', 'Retained messages.', g.retainedMessages);
  out.one('mosquitto_subscriptions', 'gauge', 'Subscriptions (not shared).', g.subscriptions);
  out.one(
    'mosquitto_shared_subscriptions',
    'gauge',
    'Shared subscriptions.',
    g.sharedSubscriptions,
  );
  out.one('mosquitto_queued_messages', 'gauge', 'Messages queued for sessions.', g.queuedMessages);
  out.one(
    'mosquitto_inflight_messages',
    'gauge',
    'QoS 1/2 messages in flight to clients.',
    g.inflightMessages,
  );
  out.one(
    'mosquitto_stored_messages',
    'gauge',
    'Retained, queued, in-flight and held incoming messages.',
    g.storedMessages,
  );
  out.one(
    'mosquitto_stored_messages_bytes',
    'gauge',
    'Payload bytes of queued and in-flight messages.',
    g.storedBytes,
  );

  // Persistence.
  const persistence = stats.persistence;
  if (persistence !== null) {
    out.one(
      'mosquitto_persistence_writes_total',
      'counter',
      'Writes of the persistent store (snapshot saves and commits).',
      persistence.writes,
    );
    out.one(
      'mosquitto_persistence_write_failures_total',
      'counter',
      'Writes of the persistent store that failed.',
      persistence.writeFailures,
    );
    out.family(
      'mosquitto_persistence_write_duration_seconds',
      'summary',
      'Time spent writing the persistent store.',
      [],
    );
    out.sample('mosquitto_persistence_write_duration_seconds_sum', {}, persistence.writeSeconds);
    out.sample('mosquitto_persistence_write_duration_seconds_count', {}, persistence.writes);
  }

  // Bridges: one series per state, 1 for the current one.
  const bridges = stats.bridgeStates();
  if (bridges.length > 0) {
    out.family(
      'mosquitto_bridge_state',
      'gauge',
      "A bridge's link state (1 for the current state).",
      bridges.flatMap(({ name, state }) =>
        BRIDGE_STATES.map((s): Sample => [{ bridge: name, state: s }, s === state ? 1 : 0]),
      ),
    );
  }

  // Process.
  const delay = stats.eventLoopDelay();
  if (delay !== null) {
    out.family(
      'mosquitto_event_loop_delay_seconds',
      'summary',
      'Event-loop delay since start (perf_hooks.monitorEventLoopDelay).',
      [
        [{ quantile: '0.5' }, delay.p50],
        [{ quantile: '0.9' }, delay.p90],
        [{ quantile: '0.99' }, delay.p99],
      ],
    );
    out.sample('mosquitto_event_loop_delay_seconds_sum', {}, delay.mean * delay.count);
    out.sample('mosquitto_event_loop_delay_seconds_count', {}, delay.count);
    out.one(
      'mosquitto_event_loop_delay_max_seconds',
      'gauge',
      'Largest event-loop delay seen.',
      delay.max,
    );
  }
  out.one('mosquitto_heap_used_bytes', 'gauge', 'V8 heap in use.', g.heapUsedBytes);
  out.one(
    'mosquitto_resident_memory_bytes',
    'gauge',
    'Resident set size of the process.',
    g.residentBytes,
  );
  return out.text;
}
