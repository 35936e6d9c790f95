/**
 * All bridges of a broker: started after the listeners, reconciled with the
 * configuration on SIGHUP as Mosquitto 2.1 does (bridge__reload()): a bridge no longer
 * configured is closed and its session removed, a new one is started, and one whose
 * settings changed takes them at its next connection (`bridge_reload_type lazy`, the
 * default) or reconnects now (`immediate`).
 */
import type { Broker } from '../broker.ts';
import type { BridgeLinkState, BridgeSupervisor } from '../bridge-hooks.ts';
import type { BridgeConfig, BrokerConfig } from '../config/types.ts';
import { Bridge } from './bridge.ts';

export function createBridgeSupervisor(broker: Broker): BridgeSupervisor {
  return new Bridges(broker);
}

class Bridges implements BridgeSupervisor {
  readonly #broker: Broker;
  readonly #bridges = new Map<string, Bridge>();

  constructor(broker: Broker) {
    this.#broker = broker;
  }

  start(): void {
    for (const config of this.#broker.config.bridges ?? []) this.#add(config);
  }

  #add(config: BridgeConfig): void {
    const bridge = new Bridge(this.#broker, config);
    this.#bridges.set(config.name, bridge);
    bridge.start();
  }

  reload(config: BrokerConfig): void {
    const wanted = new Map((config.bridges ?? []).map((b) => [b.name, b]));
    for (const [name, bridge] of this.#bridges) {
      // A bridge whose local session changes name is another bridge: the old one goes.
      const next = wanted.get(name);
      if (next !== undefined && next.localClientid === bridge.config.localClientid) continue;
      bridge.stop();
      this.#broker.removeSession(bridge.session);
      this.#bridges.delete(name);
    }
    for (const [name, bridgeConfig] of wanted) {
      const bridge = this.#bridges.get(name);
      if (bridge === undefined) this.#add(bridgeConfig);
      else if (!sameSettings(bridge.config, bridgeConfig)) bridge.reconfigure(bridgeConfig);
    }
  }

  close(): void {
    for (const bridge of this.#bridges.values()) bridge.stop();
  }

  states(): { readonly name: string; readonly state: BridgeLinkState }[] {
    return [...this.#bridges].map(([name, bridge]) => ({ name, state: bridge.linkState }));
  }
}

function sameSettings(a: BridgeConfig, b: BridgeConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
