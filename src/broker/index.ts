/**
 * The broker library's public surface: start a broker in-process from a config object,
 * observe it through events, stop it.
 */
export { startBroker, libraryDefaultConfig } from './start-broker.ts';
export type { StartBrokerOptions } from './start-broker.ts';
export { Broker, BROKER_VERSION } from './broker.ts';
export type {
  EmbeddedPlugin,
  BrokerEvents,
  ClientDisconnectedInfo,
  ClientInfo,
  PublishedMessageInfo,
} from './broker.ts';
export { CloseReason } from './close-reason.ts';
export type { BrokerLog, LoggedLine } from './broker-log.ts';
export { MemoryLog, silentLog } from './broker-log.ts';
export { defaultConfig, defaultListener, defaultSecurity } from './config/types.ts';
export type { BrokerConfig, ListenerConfig, LogConfig, SecurityConfig } from './config/types.ts';
export { ListenError } from './listeners.ts';
export type { Clock } from '../common/clock.ts';
export { ManualClock, systemClock } from '../common/clock.ts';
export { SecurityFileError } from './security/broker-security.ts';
export { definePlugin } from './plugins/api.ts';
export type {
  AclAccess,
  AclCheckEvent,
  BasicAuthEvent,
  ConnectEvent,
  ControlEvent,
  DisconnectEvent,
  MessageEvent,
  MessageVerdict,
  PluginClient,
  PluginContext,
  PluginDefinition,
  PluginEvents,
  PluginLog,
  PluginMessage,
  PluginResult,
  SubscriptionEvent,
  KickTarget,
  ExtendedAuthAnswer,
  ExtendedAuthEvent,
} from './plugins/api.ts';
