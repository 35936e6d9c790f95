/**
 * The broker as a library: start one in-process from a config object, find its ports,
 * listen to its events, close it.
 *
 *   const broker = await startBroker({ config: { maxInflightMessages: 10 } });
 *   broker.on('messagePublished', (message) => { ... });
 *   const [port] = broker.ports;
 *   await broker.close();
 */
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import type { BrokerLog } from './broker-log.ts';
import { silentLog } from './broker-log.ts';
import type { BridgeSupervisorFactory, EmbeddedPlugin } from './broker.ts';
import { Broker } from './broker.ts';
import type { BrokerConfig } from './config/types.ts';
import { defaultConfig, defaultListener } from './config/types.ts';

export interface StartBrokerOptions {
  /**
   * A complete configuration, or fields to override on the library default: Mosquitto's
   * defaults with one listener on 127.0.0.1 at a free port (0) and anonymous clients
   * allowed.
   */
  readonly config?: Partial<BrokerConfig>;
  /** Time source (ManualClock in tests); the system clock by default. */
  readonly clock?: Clock;
  /** Where log lines go; nothing is logged by default. */
  readonly log?: BrokerLog;
  /** Runs the configuration's bridges (the package's startBroker always passes it). */
  readonly bridges?: BridgeSupervisorFactory;
  /** Plugins given directly (definePlugin() results), asked before the configuration's. */
  readonly plugins?: readonly EmbeddedPlugin[];
}

/** Mosquitto's defaults for an embedded broker: 127.0.0.1, a free port, anonymous allowed. */
export function libraryDefaultConfig(): BrokerConfig {
  const base = defaultConfig([0]);
  return {
    ...base,
    listeners: [{ ...defaultListener(0, base.security), bindAddress: '127.0.0.1' }],
  };
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<Broker> {
  const config: BrokerConfig = { ...libraryDefaultConfig(), ...options.config };
  const broker = new Broker(config, options.clock ?? systemClock, options.log ?? silentLog, {
    ...(options.bridges === undefined ? {} : { bridges: options.bridges }),
    ...(options.plugins === undefined ? {} : { plugins: options.plugins }),
  });
  await broker.start();
  return broker;
}
