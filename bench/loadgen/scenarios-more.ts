/**
 * The scenarios beyond 64-byte plain TCP traffic: TLS 1.2 and 1.3 (fan-in and QoS 1 pairs),
 * large payloads (QoS 1, MB/s), and scale (a million subscriptions, 100,000 wildcard filters,
 * a million retained messages). Each scale run gets a fresh broker, so its RSS growth is the
 * scenario's own.
 */
import type { LoadgenResult } from './loadgen.ts';
import {
  ACKED,
  DELIVERED,
  fanInArgs,
  integer,
  pairsArgs,
  PER_CPU,
  SCENARIOS,
  traffic,
  trafficTimeout,
} from './scenarios.ts';
import type { Metric, RunSettings, Scenario, ScenarioId } from './scenarios.ts';

function tlsScenario(version: '1.2' | '1.3', shape: 'fan-in' | 'qos1'): Scenario {
  const id = `tls${version.replace('.', '')}-${shape}` as ScenarioId;
  const tls = ['--tls', version];
  return shape === 'fan-in'
    ? {
        id,
        title: () => `TLS ${version} fan-in: 100 publishers -> 1 subscriber on bench/#, QoS 0`,
        freshBrokerPerRun: false,
        tls: version,
        loadgenArgs: (s) => traffic(s, [...fanInArgs(), ...tls]),
        timeout: trafficTimeout,
        metrics: [DELIVERED, PER_CPU],
      }
    : {
        id,
        title: () => `TLS ${version} QoS 1: 100 publishers -> 100 subscribers (pairs)`,
        freshBrokerPerRun: false,
        tls: version,
        loadgenArgs: (s) => traffic(s, [...pairsArgs(1), ...tls]),
        timeout: trafficTimeout,
        metrics: [DELIVERED, ACKED, PER_CPU],
      };
}

function megabytesPerSecond(payload: number): Metric {
  return {
    label: 'delivered MB/s (payload)',
    better: 'higher',
    value: (result) =>
      result.kind === 'traffic' && result.elapsed > 0
        ? (result.delivered * payload) / result.elapsed / 1e6
        : null,
    format: (value) => value.toFixed(0),
  };
}

/**
 * QoS 1 pairs of large messages: one message per write, polled without a tick (a 1 MB
 * message is many reads), `window` messages per pair at most.
 */
function largeScenario(id: ScenarioId, payload: number, pairs: number, window: number): Scenario {
  const size = payload >= 1 << 20 ? `${String(payload >> 20)} MB` : `${String(payload >> 10)} KB`;
  return {
    id,
    title: () =>
      `large: ${String(pairs)} QoS 1 pairs, ${size} payloads, ${String(window)} in flight each`,
    freshBrokerPerRun: false,
    loadgenArgs: (s) =>
      traffic(
        s,
        [
          '--mode',
          'qos1',
          '--qos',
          '1',
          '--clients',
          String(pairs),
          '--batch',
          '1',
          '--qos-window',
          String(window),
          '--window',
          String(window),
          '--refill',
          '1',
          '--tick-us',
          '0',
        ],
        String(payload),
      ),
    timeout: trafficTimeout,
    metrics: [megabytesPerSecond(payload), { ...DELIVERED, format: integer }],
  };
}

function scale(pick: (r: Extract<LoadgenResult, { kind: 'scale' }>) => number | null) {
  return (result: LoadgenResult): number | null => (result.kind === 'scale' ? pick(result) : null);
}

const SETUP_RATE = (label: string): Metric => ({
  label,
  better: 'higher',
  value: scale((r) => (r.setupSeconds > 0 ? r.count / r.setupSeconds : null)),
  format: integer,
});

const BYTES_PER_ITEM = (label: string): Metric => ({
  label,
  better: 'lower',
  value: scale((r) => ((r.rssAfterKb - r.rssBeforeKb) * 1024) / r.count),
  format: integer,
});

/** Setup (subscribing or storing) may take a minute; then the second phase. */
const SCALE_SETUP_SECONDS = 60;
const scaleTimeout = (s: RunSettings): number =>
  SCALE_SETUP_SECONDS * 2 + s.warmup + s.duration + 20;

function subscriptionsScenario(id: ScenarioId, count: number, wildcards: boolean): Scenario {
  const what = wildcards
    ? 'wildcard filters (a/<k>/+ and a/<k>/#)'
    : 'subscriptions on distinct topics';
  return {
    id,
    title: () => `scale: ${integer(count)} ${what} over 10 clients, then QoS 0 routed across them`,
    freshBrokerPerRun: true,
    loadgenArgs: (s) =>
      traffic(s, [
        '--mode',
        'subs',
        '--count',
        String(count),
        '--wildcards',
        wildcards ? '1' : '0',
        '--clients',
        '10',
        '--window',
        '2000',
        '--refill',
        '250',
        '--tick-us',
        '500',
      ]).concat(['--setup-timeout', String(SCALE_SETUP_SECONDS)]),
    timeout: scaleTimeout,
    metrics: [
      SETUP_RATE('subscriptions/s'),
      { ...DELIVERED, label: 'routed msg/s' },
      BYTES_PER_ITEM('RSS bytes per subscription'),
    ],
  };
}

const RETAINED_COUNT = 1_000_000;

export const MORE_SCENARIOS: readonly Scenario[] = [
  tlsScenario('1.2', 'fan-in'),
  tlsScenario('1.2', 'qos1'),
  tlsScenario('1.3', 'fan-in'),
  tlsScenario('1.3', 'qos1'),
  largeScenario('large-64k', 64 * 1024, 4, 16),
  largeScenario('large-1m', 1024 * 1024, 2, 4),
  subscriptionsScenario('subs-1m', 1_000_000, false),
  subscriptionsScenario('wildcards-100k', 100_000, true),
  {
    id: 'retained-1m',
    title: () =>
      `scale: ${integer(RETAINED_COUNT)} retained messages stored (QoS 1), then one bench/r/# subscriber receives them all`,
    freshBrokerPerRun: true,
    loadgenArgs: () => [
      '--mode',
      'retained',
      '--count',
      String(RETAINED_COUNT),
      '--clients',
      '4',
      '--qos-window',
      '500',
      '--payload',
      '64',
      '--setup-timeout',
      String(SCALE_SETUP_SECONDS),
    ],
    timeout: scaleTimeout,
    metrics: [
      SETUP_RATE('stored msg/s'),
      { ...DELIVERED, label: 'received msg/s (all retained)' },
      {
        label: 'seconds to receive all',
        better: 'lower',
        value: scale((r) => (r.delivered > 0 ? r.elapsed : null)),
        format: (value) => value.toFixed(2),
      },
      BYTES_PER_ITEM('RSS bytes per retained message'),
    ],
  },
];

/** Every scenario of `npm run bench`, in run order. */
export const ALL_SCENARIOS: readonly Scenario[] = [...SCENARIOS, ...MORE_SCENARIOS];
