/** mosquitto-ts: the MQTT protocol layer, the broker and the client as libraries. */
export * from './protocol/index.ts';
export * from './broker/index.ts';
import type { BridgeSupervisorFactory } from './broker/broker.ts';
import type { Broker, StartBrokerOptions } from './broker/index.ts';
import { startBroker as startBrokerCore } from './broker/index.ts';

/** The bridges' code is imported when a configuration has bridges. */
const loadBridges: BridgeSupervisorFactory = async (broker) =>
  (await import('./broker/bridge/supervisor.ts')).createBridgeSupervisor(broker);

/**
 * Starts a broker in-process (see broker/start-broker.ts), with the bridges its
 * configuration names; this one shadows the broker layer's, which has no bridges.
 */
export function startBroker(options: StartBrokerOptions = {}): Promise<Broker> {
  return startBrokerCore({ bridges: loadBridges, ...options });
}
// The client library in full is `mosquitto-ts/client`; its `Subscription` class would clash
// with the protocol's `Subscription` type here, so it is exported as `ClientSubscription`.
export {
  MqttClient,
  Subscription as ClientSubscription,
  ClientErrorCode,
  ConnectionRefusedError,
  MqttClientError,
  ReasonCodeError,
  ServerDisconnectError,
} from './client/index.ts';
export type {
  ConnectOptions,
  PublishOptions,
  ReceivedMessage,
  SubscribeOptions,
} from './client/index.ts';
