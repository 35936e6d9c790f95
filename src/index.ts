/** mosquitto-ts: the MQTT protocol layer, the broker and the client as libraries. */
export * from './protocol/index.ts';
export * from './broker/index.ts';
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
