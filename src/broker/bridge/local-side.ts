/**
 * What a bridge does on our side of the link (bridge.c, database.c, retain.c for a bridge
 * context): its local subscriptions, what a clean start forgets, the retained messages
 * it sends on connecting, the connection state it publishes, and the listener-shaped
 * settings its connection's handlers read.
 */
import { Buffer } from 'node:buffer';
import type { ProtocolVersion, QoS } from '../../protocol/constants.ts';
import { ProtocolVersion as Versions } from '../../protocol/constants.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import type { Broker } from '../broker.ts';
import type { BridgeConfig } from '../config/types.ts';
import { defaultListener } from '../config/types.ts';
import type { BrokerListener } from '../listeners.ts';
import { newListenerCounters } from '../metrics.ts';
import { ListenerSockets } from '../listeners.ts';
import { StoredMessage } from '../messages/stored-message.ts';
import { deliverToSession } from '../outgoing.ts';
import type { Session } from '../session.ts';
import type { MappedTopic } from './topic-map.ts';

function capped(qos: QoS, maxQos: QoS): QoS {
  return qos > maxQos ? maxQos : qos;
}

/**
 * Every local subscription made again (unwanted ones go, as sub__clean_session()): the
 * `out`/`both` topics, with no-local (the remote's messages do not go back) and
 * retain-as-published.
 */
export function subscribeLocally(
  broker: Broker,
  session: Session,
  topics: readonly MappedTopic[],
  maxQos: QoS,
): void {
  for (const filter of [...session.subscriptions.keys()]) broker.unsubscribe(session, filter);
  for (const topic of topics) {
    if (topic.direction === 'in') continue;
    if (broker.debugLog) {
      broker.log.debug(
        `Bridge ${session.clientId} doing local SUBSCRIBE on topic ${topic.localTopic}`,
      );
    }
    broker.subscribe(session, topic.localTopic, {
      qos: capped(topic.qos, maxQos),
      noLocal: true,
      retainAsPublished: true,
      retainHandling: 0,
      subscriptionId: 0,
    });
  }
}

/**
 * db__messages_delete() at a connection attempt: `cleansession` forgets what the remote
 * sent (QoS 2 awaiting PUBREL), `local_cleansession` what waits for the remote.
 */
export function dropForCleanStart(
  session: Session,
  config: BridgeConfig,
  cleanStartLocal: boolean,
): void {
  if (config.cleansession) {
    session.incoming.clear();
    session.incomingResent.clear();
  }
  if (cleanStartLocal) {
    session.inflight.clear();
    session.inflightBytes = 0;
    session.queue.clear();
  }
}

/** retain__queue() for each `out` topic: the retained messages go to the remote too. */
export function queueRetained(
  broker: Broker,
  session: Session,
  topics: readonly MappedTopic[],
  maxQos: QoS,
): void {
  if (broker.retained.size === 0) return;
  const now = broker.clock.now();
  for (const topic of topics) {
    if (topic.direction === 'in') continue;
    const qos = capped(topic.qos, maxQos);
    const found: StoredMessage[] = [];
    broker.retained.match(
      topic.localTopic,
      (_topic, message, into: StoredMessage[]) => {
        if (!message.isExpired(now)) into.push(message);
      },
      found,
    );
    for (const message of found) {
      deliverToSession(broker, session, message, capped(message.qos, qos), true, 0);
    }
  }
}

/** `notification_topic`, or `$SYS/broker/connection/<remote_clientid>/state`. */
export function notificationTopic(config: BridgeConfig): string {
  return config.notificationTopic ?? `$SYS/broker/connection/${config.remoteClientid}/state`;
}

/** The connection state, retained, as published by the bridge's session. */
export function publishState(
  broker: Broker,
  session: Session,
  config: BridgeConfig,
  qos: QoS,
  state: '0' | '1',
): void {
  broker.publish(
    new StoredMessage(
      notificationTopic(config),
      Buffer.from(state),
      qos,
      true,
      EMPTY_PROPERTIES,
      0,
      session.clientId,
      config.localUsername,
    ),
  );
}

export function versionOf(config: BridgeConfig): ProtocolVersion {
  switch (config.protocolVersion) {
    case 'mqttv31':
      return Versions.V31;
    case 'mqttv50':
      return Versions.V5;
    default:
      return Versions.V311;
  }
}

/**
 * What the handlers read of a listener, for a bridge's connection (Mosquitto's bridge
 * contexts have none): no mount point, every QoS, and the topic aliases offered to the
 * remote (any, as 2.0, when bridge_max_topic_alias is not given).
 */
export function syntheticListener(broker: Broker, config: BridgeConfig): BrokerListener {
  return {
    config: {
      ...defaultListener(0, broker.config.security),
      maxTopicAlias: config.maxTopicAlias ?? 65535,
    },
    server: new ListenerSockets(),
    port: 0,
    ...newListenerCounters(),
  };
}
