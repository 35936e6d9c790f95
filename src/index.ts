/** mosquitto-ts: the MQTT protocol layer and the broker as a library. */
export * from './protocol/index.ts';
export * from './broker/index.ts';
