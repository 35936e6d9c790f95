/**
 * The benchmark scenarios: what the generator is asked to do (its flags) and which figures
 * the table shows for each. Payloads are 64 bytes except in the large-* scenarios. The TLS,
 * large-payload and scale scenarios are in scenarios-more.ts.
 */
import type { LoadgenResult } from './loadgen.ts';

export const SCENARIO_IDS = [
  'fan-in',
  'fan-out',
  'qos0-pairs',
  'qos1',
  'qos2',
  'latency',
  'latency-qos1',
  'memory',
  'memory-50k',
  'tls12-fan-in',
  'tls12-qos1',
  'tls13-fan-in',
  'tls13-qos1',
  'large-64k',
  'large-1m',
  'subs-1m',
  'wildcards-100k',
  'retained-1m',
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** Names `--only` also takes, each standing for several scenarios. */
export const SCENARIO_GROUPS: Readonly<Record<string, readonly ScenarioId[]>> = {
  tls12: ['tls12-fan-in', 'tls12-qos1'],
  tls13: ['tls13-fan-in', 'tls13-qos1'],
  tls: ['tls12-fan-in', 'tls12-qos1', 'tls13-fan-in', 'tls13-qos1'],
  large: ['large-64k', 'large-1m'],
  scale: ['subs-1m', 'wildcards-100k', 'retained-1m'],
};

export interface RunSettings {
  /** Measured seconds per run, after `warmup` seconds of the same load. */
  readonly duration: number;
  readonly warmup: number;
  /** Idle clients of the memory scenario. */
  readonly connections: number;
}

export interface Metric {
  readonly label: string;
  /** Whether a larger figure is the better one (ratios are always ours / other). */
  readonly better: 'higher' | 'lower';
  /** The figure of one run, or null when the run did not produce it. */
  readonly value: (result: LoadgenResult) => number | null;
  readonly format: (value: number) => string;
}

/** Id: one of SCENARIO_IDS, or (bench/persistence.ts) a scenario of its own. */
export interface Scenario<Id extends string = ScenarioId> {
  readonly id: Id;
  readonly title: (settings: RunSettings) => string;
  /** Each run gets a freshly started broker (else one broker per scenario serves all rounds). */
  readonly freshBrokerPerRun: boolean;
  readonly loadgenArgs: (settings: RunSettings) => string[];
  /** Seconds a run may take before the generator is killed. */
  readonly timeout: (settings: RunSettings) => number;
  readonly metrics: readonly Metric[];
  /** The bare relay (bench/relay.ts) serves it too (QoS 0 plain TCP fan-in/fan-out/pairs). */
  readonly relay?: boolean;
  /** Brokers listen with TLS of this version (certificates made per benchmark run). */
  readonly tls?: '1.2' | '1.3';
}

export const LATENCY_RATE = 10_000;
const PAYLOAD = '64';

export const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
export const micros = (value: number): string => (value >= 100 ? integer(value) : value.toFixed(1));

export function deliveredRate(result: LoadgenResult): number | null {
  return result.kind !== 'connections' && result.elapsed > 0
    ? result.delivered / result.elapsed
    : null;
}

export function ackedRate(result: LoadgenResult): number | null {
  return result.kind === 'traffic' && result.elapsed > 0 ? result.acked / result.elapsed : null;
}

function latency(pick: (r: { latencyP50: number; latencyP99: number }) => number) {
  return (result: LoadgenResult): number | null =>
    result.kind === 'traffic' && result.latencySamples > 0 ? pick(result) : null;
}

export function bytesPerConnection(result: LoadgenResult): number | null {
  if (result.kind !== 'connections' || result.clients === 0) return null;
  return ((result.rssAfterKb - result.rssBeforeKb) * 1024) / result.clients;
}

/** Throughput per CPU second of the broker: comparable even when other load on the machine
 * kept the broker from a full core (the table's "other" CPU shows when that happened). */
function deliveredPerCpuSecond(result: LoadgenResult): number | null {
  return result.kind !== 'connections' && result.brokerCpu > 0
    ? result.delivered / result.brokerCpu
    : null;
}

export const PER_CPU: Metric = {
  label: 'delivered per broker CPU-second',
  better: 'higher',
  value: deliveredPerCpuSecond,
  format: integer,
};

export const DELIVERED: Metric = {
  label: 'delivered msg/s',
  better: 'higher',
  value: deliveredRate,
  format: integer,
};

/** Generator flags of a traffic scenario: its own, then payload and timing. */
export function traffic(settings: RunSettings, args: string[], payload = PAYLOAD): string[] {
  return [
    ...args,
    '--payload',
    payload,
    '--warmup',
    String(settings.warmup),
    '--duration',
    String(settings.duration),
    '--setup-timeout',
    '10',
  ];
}

/** Setup (10 s at most) + warm-up + window + drain (3 s at most) + margin. */
export const trafficTimeout = (settings: RunSettings): number =>
  settings.warmup + settings.duration + 20;

export const LATENCY_P50: Metric = {
  label: 'p50 latency us',
  better: 'lower',
  value: latency((r) => r.latencyP50),
  format: micros,
};

export const LATENCY_P99: Metric = {
  label: 'p99 latency us',
  better: 'lower',
  value: latency((r) => r.latencyP99),
  format: micros,
};

export const ACKED: Metric = {
  label: 'acked msg/s',
  better: 'higher',
  value: ackedRate,
  format: integer,
};

/** Generator flags of the 100 -> 100 pairs (QoS 0, 1 or 2). */
export function pairsArgs(qos: number): string[] {
  // Each publisher sends as soon as one of its 16 slots frees (as a real client would:
  // waiting for several PUBACKs stalls on Nagle + delayed ACK against Mosquitto, which does
  // not set TCP_NODELAY); a pair may also lag at most 1,000 messages behind its subscriber.
  return [
    '--mode',
    'qos1',
    '--qos',
    String(qos),
    '--clients',
    '100',
    '--qos-window',
    '16',
    '--window',
    '1000',
    '--refill',
    '1',
    '--tick-us',
    '1000',
  ];
}

/** Generator flags of fan-in: 100 publishers -> 1 subscriber of bench/#, QoS 0. */
export function fanInArgs(): string[] {
  // At most 2,000 messages sent and not yet delivered, refilled 250 at a time, polled every
  // 0.5 ms: a broker would need 4M msg/s to drain that between two polls. Deeper windows
  // only measure queueing: Aedes drops to a fifth of its rate per CPU second at 20,000,
  // Mosquitto stays flat.
  return [
    '--mode',
    'fanin',
    '--clients',
    '100',
    '--window',
    '2000',
    '--refill',
    '250',
    '--tick-us',
    '500',
  ];
}

export function memoryScenario(id: 'memory' | 'memory-50k', clients?: number): Scenario {
  const count = (s: RunSettings): number => clients ?? s.connections;
  return {
    id,
    title: (s) => `${id}: ${integer(count(s))} idle connections (MQTT 3.1.1, keepalive 60)`,
    freshBrokerPerRun: true,
    loadgenArgs: (s) => [
      '--mode',
      'connections',
      '--clients',
      String(count(s)),
      '--keepalive',
      '60',
      '--setup-timeout',
      String(Math.max(30, Math.ceil(count(s) / 1000))),
    ],
    timeout: (s) => Math.max(60, Math.ceil(count(s) / 1000) + 30),
    metrics: [
      {
        label: 'RSS bytes per connection',
        better: 'lower',
        value: bytesPerConnection,
        format: integer,
      },
    ],
  };
}

/** The 64-byte plain TCP scenarios (the others: MORE_SCENARIOS in scenarios-more.ts). */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'fan-in',
    title: () => 'fan-in: 100 publishers -> 1 subscriber on bench/#, QoS 0',
    freshBrokerPerRun: false,
    relay: true,
    loadgenArgs: (s) => traffic(s, fanInArgs()),
    timeout: trafficTimeout,
    metrics: [DELIVERED, PER_CPU],
  },
  {
    id: 'fan-out',
    title: () => 'fan-out: 1 publisher -> 100 subscribers on one topic, QoS 0',
    freshBrokerPerRun: false,
    relay: true,
    // The slowest subscriber may lag at most 500 messages: 50,000 deliveries in flight. With
    // 50, a broker doing 6M deliveries/s (ours with TCP_NODELAY) already idled between the
    // generator's polls; Mosquitto and Aedes measure the same from 50 to 1,000.
    loadgenArgs: (s) =>
      traffic(s, [
        '--mode',
        'fanout',
        '--clients',
        '100',
        '--window',
        '500',
        '--refill',
        '60',
        '--tick-us',
        '500',
      ]),
    timeout: trafficTimeout,
    metrics: [{ ...DELIVERED, label: 'delivered msg/s (sum)' }, PER_CPU],
  },
  {
    id: 'qos0-pairs',
    title: () => 'QoS 0 pairs: 100 publishers -> 100 subscribers (the qos1 shape at QoS 0)',
    freshBrokerPerRun: false,
    relay: true,
    loadgenArgs: (s) => traffic(s, pairsArgs(0)),
    timeout: trafficTimeout,
    metrics: [DELIVERED, PER_CPU],
  },
  {
    id: 'qos1',
    title: () => 'QoS 1: 100 publishers -> 100 subscribers (pairs), 16 in flight each',
    freshBrokerPerRun: false,
    loadgenArgs: (s) => traffic(s, pairsArgs(1)),
    timeout: trafficTimeout,
    metrics: [DELIVERED, ACKED, PER_CPU],
  },
  {
    id: 'qos2',
    title: () => 'QoS 2: 100 publishers -> 100 subscribers (pairs), 16 in flight each',
    freshBrokerPerRun: false,
    loadgenArgs: (s) => traffic(s, pairsArgs(2)),
    timeout: trafficTimeout,
    metrics: [DELIVERED, { ...ACKED, label: 'completed msg/s' }, PER_CPU],
  },
  {
    id: 'latency',
    title: () => `latency: 1 publisher -> 1 subscriber at ${integer(LATENCY_RATE)} msg/s, QoS 0`,
    freshBrokerPerRun: false,
    loadgenArgs: (s) => traffic(s, ['--mode', 'latency', '--rate', String(LATENCY_RATE)]),
    timeout: trafficTimeout,
    metrics: [LATENCY_P50, LATENCY_P99],
  },
  {
    id: 'latency-qos1',
    title: () => `latency: 1 publisher -> 1 subscriber at ${integer(LATENCY_RATE)} msg/s, QoS 1`,
    freshBrokerPerRun: false,
    loadgenArgs: (s) =>
      traffic(s, ['--mode', 'latency', '--qos', '1', '--rate', String(LATENCY_RATE)]),
    timeout: trafficTimeout,
    metrics: [LATENCY_P50, LATENCY_P99],
  },
  memoryScenario('memory'),
  memoryScenario('memory-50k', 50_000),
];
