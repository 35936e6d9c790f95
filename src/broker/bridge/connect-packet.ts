/**
 * The CONNECT a bridge sends (send_connect.c for a bridge context): the remote client id
 * and credentials, the clean session flag, the keepalive, the notification "0" as will,
 * and the 0x80 bit on the protocol level (try_private, MQTT 3.x only) that tells a
 * Mosquitto remote it is talking to a bridge.
 */
import { Buffer } from 'node:buffer';
import type { ProtocolVersion, QoS } from '../../protocol/constants.ts';
import { PacketType, ProtocolVersion as Versions } from '../../protocol/constants.ts';
import type { ConnectPacket, Properties } from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import type { BridgeConfig } from '../config/types.ts';

export interface BridgeConnectState {
  readonly protocolVersion: ProtocolVersion;
  /** try_private, unless the remote refused it once (CONNACK 1). */
  readonly bridgeBit: boolean;
  /** The notification will ("0", retained unless the remote has no retain), or null. */
  readonly will: { readonly topic: string; readonly qos: QoS; readonly retain: boolean } | null;
  /** max_inflight_messages: the Receive Maximum an MQTT 5 bridge announces. */
  readonly receiveMaximum: number;
}

export function bridgeConnectPacket(
  config: BridgeConfig,
  state: BridgeConnectState,
): ConnectPacket {
  const version = state.protocolVersion;
  const v5 = version === Versions.V5;
  let properties: Properties = EMPTY_PROPERTIES;
  if (v5) {
    properties = {
      // Mosquitto always announces it, so the remote's limit matches our inflight one.
      receiveMaximum: config.receiveMaximum > 0 ? config.receiveMaximum : state.receiveMaximum,
      ...(config.sessionExpiryInterval > 0
        ? { sessionExpiryInterval: config.sessionExpiryInterval }
        : {}),
      ...(config.maxTopicAlias !== null && config.maxTopicAlias > 0
        ? { topicAliasMaximum: config.maxTopicAlias }
        : {}),
    };
  }
  return {
    type: PacketType.Connect,
    protocolName: version === Versions.V31 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    isBridge: !v5 && state.bridgeBit,
    cleanStart: config.cleansession,
    keepalive: config.keepaliveInterval,
    clientId: config.remoteClientid,
    will:
      state.will === null
        ? null
        : {
            topic: state.will.topic,
            payload: Buffer.from('0'),
            qos: state.will.qos,
            retain: state.will.retain,
            properties: EMPTY_PROPERTIES,
          },
    username: config.remoteUsername,
    password: config.remotePassword === null ? null : Buffer.from(config.remotePassword),
    properties,
  };
}
