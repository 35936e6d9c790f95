/**
 * Shared by the listener tests: a listener's TLS options with Mosquitto's defaults, a
 * broker started in-process with one listener of any kind, and MQTT.js clients that
 * report a refusal instead of waiting forever.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import type { Broker } from '../../../src/broker/broker.ts';
import type {
  BrokerConfig,
  ListenerConfig,
  ListenerTlsConfig,
} from '../../../src/broker/config/types.ts';
import { defaultListener, defaultSecurity } from '../../../src/broker/config/types.ts';
import { newTlsDraft } from '../../../src/broker/config/draft.ts';
import { startBroker } from '../../../src/broker/start-broker.ts';
import type { CertificatePair } from '../../helpers/certs.ts';

/** No TLS option set (what the config parser starts a listener with). */
export function tlsOptions(overrides: Partial<ListenerTlsConfig> = {}): ListenerTlsConfig {
  return { ...newTlsDraft(), ...overrides };
}

/** certfile/keyfile of `server`, plus any other option. */
export function serverTls(
  server: CertificatePair,
  overrides: Partial<ListenerTlsConfig> = {},
): ListenerTlsConfig {
  return tlsOptions({ certfile: server.cert, keyfile: server.key, ...overrides });
}

export interface ListenerBroker {
  readonly broker: Broker;
  readonly port: number;
  readonly log: MemoryLog;
  /** Every logged line, in order. */
  lines(): string[];
  close(): Promise<void>;
}

/** Our broker with one listener on 127.0.0.1 (a free port) shaped by `listener`. */
export async function startListenerBroker(
  listener: Partial<ListenerConfig>,
  config: Partial<BrokerConfig> = {},
): Promise<ListenerBroker> {
  const log = new MemoryLog();
  const listenerConfig: ListenerConfig = {
    ...defaultListener(0, defaultSecurity(true)),
    bindAddress: '127.0.0.1',
    ...listener,
  };
  const broker = await startBroker({
    config: { sysInterval: 0, listeners: [listenerConfig], ...config },
    log,
  });
  return {
    broker,
    port: broker.ports[0] ?? 0,
    log,
    lines: () => log.lines.map((line) => line.message),
    close: () => broker.close(),
  };
}

/** MQTT.js options trusting `caFile` and presenting `client` (if given). */
export function tlsClientOptions(caFile: string, client?: CertificatePair): IClientOptions {
  return {
    ca: readFileSync(caFile),
    ...(client === undefined
      ? {}
      : { cert: readFileSync(client.cert), key: readFileSync(client.key) }),
  };
}

export type ConnectOutcome =
  | { readonly kind: 'connected'; readonly client: MqttClient }
  | { readonly kind: 'refused'; readonly code: number }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'closed' };

/**
 * Connects MQTT.js once (no reconnects) and reports how it went: CONNACK 0, a refusal
 * code, a transport error, or a close without either.
 */
export function tryConnect(url: string, options: IClientOptions = {}): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    let settled = false;
    // MQTT.js's own listeners stay (one of them clears its CONNACK timer on close).
    const finish = (outcome: ConnectOutcome): void => {
      if (settled) return;
      settled = true;
      if (outcome.kind !== 'connected') client.end(true);
      resolve(outcome);
    };
    client.once('connect', () => {
      finish({ kind: 'connected', client });
    });
    client.on('error', (error: Error & { code?: unknown }) => {
      finish(
        typeof error.code === 'number'
          ? { kind: 'refused', code: error.code }
          : { kind: 'error', message: error.message },
      );
    });
    client.once('close', () => {
      finish({ kind: 'closed' });
    });
  });
}

/** Connects and fails the test unless CONNACK 0 came back. */
export async function connectOrFail(
  url: string,
  options: IClientOptions = {},
): Promise<MqttClient> {
  const outcome = await tryConnect(url, options);
  if (outcome.kind !== 'connected') throw new Error(`not connected: ${JSON.stringify(outcome)}`);
  return outcome.client;
}

/** Publishes on one client and resolves with the payload the other receives. */
export async function roundTrip(
  subscriber: MqttClient,
  publisher: MqttClient,
  topic: string,
  payload: string,
): Promise<string> {
  await subscriber.subscribeAsync(topic);
  const received = new Promise<string>((resolve) => {
    subscriber.once('message', (_topic, message) => {
      resolve(message.toString());
    });
  });
  await publisher.publishAsync(topic, payload);
  return received;
}
