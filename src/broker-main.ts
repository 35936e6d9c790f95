/**
 * The `mosquitto` command: the broker's main() with its bridges, which live above the
 * broker layer (broker/bridge/ is built on the client library). Their code is imported
 * only when the configuration has a `connection` block.
 */
import type { BridgeSupervisorFactory } from './broker/broker.ts';
import { main } from './broker/main.ts';

const loadBridges: BridgeSupervisorFactory = async (broker) =>
  (await import('./broker/bridge/supervisor.ts')).createBridgeSupervisor(broker);

export function runBroker(argv: readonly string[]): Promise<void> {
  return main(argv, { bridges: loadBridges });
}
