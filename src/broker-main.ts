/**
 * The `mosquitto` command: the broker's main() with its bridges, which live above the
 * broker layer (broker/bridge/ is built on the client library).
 */
import { createBridgeSupervisor } from './broker/bridge/supervisor.ts';
import { main } from './broker/main.ts';

export function runBroker(argv: readonly string[]): Promise<void> {
  return main(argv, { bridges: createBridgeSupervisor });
}
