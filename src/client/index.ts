/**
 * The client library's public surface: MqttClient and its options, messages,
 * subscriptions and errors.
 */
export { MqttClient } from './client.ts';
export type { EndOptions } from './client.ts';
export type { FilterRequest, SubscribeOptions } from './subscriptions.ts';
export type { PublishOptions } from './outgoing.ts';
export type { PublishOutcome } from './client-session.ts';
export type {
  ClientObserver,
  ConnectOptions,
  ProxyOptions,
  ReconnectOptions,
  TlsOptions,
  WillOptions,
} from './options.ts';
export type { ReceivedMessage } from './message.ts';
export { Subscription } from './subscription.ts';
export type { UnsubscribeResult } from './subscription.ts';
export {
  ClientErrorCode,
  ConnectionRefusedError,
  connackString,
  MosqErr,
  MqttClientError,
  mosquittoStrerror,
  ReasonCodeError,
  reasonString,
  ServerDisconnectError,
} from './errors.ts';
export { parseBrokerUrl } from './url.ts';
export type { ParsedBrokerUrl } from './url.ts';
