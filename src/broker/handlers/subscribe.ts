/**
 * SUBSCRIBE (handle_subscribe.c): validate each filter, grant min(requested, max_qos),
 * add or replace the subscription, answer SUBACK, then send matching retained messages
 * (after the SUBACK, as Mosquitto's write order gives). MQTT 3.x gets retained messages
 * on every SUBSCRIBE; MQTT 5 follows Retain Handling; shared subscriptions never do.
 */
import type { SubscribePacket } from '../../protocol/packets.ts';
import type { QoS } from '../../protocol/constants.ts';
import { ProtocolVersion, ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import { isValidTopicFilter, parseSharedFilter } from '../../protocol/topic.ts';
import type { ClientConnection } from '../client-connection.ts';
import type { StoredMessage } from '../messages/stored-message.ts';
import type { BrokerSecurity } from '../security/broker-security.ts';
import { deliverToSession } from '../outgoing.ts';
import * as send from '../send.ts';
import type { Session } from '../session.ts';
import { requireSession } from './require-session.ts';

/** Retained messages found for one SUBSCRIBE, delivered after the SUBACK. */
class RetainedBatch {
  readonly messages: StoredMessage[] = [];
  readonly qos: QoS[] = [];
  readonly subscriptionIds: number[] = [];
  readonly expiredTopics: string[] = [];
  grantedQos: QoS = 0;
  subscriptionId = 0;
  upgradeQos = false;
  now = 0;
  /** Set when check_retain_source applies: the publisher must still be allowed to write. */
  sourceCheck: BrokerSecurity | null = null;
}

function visitRetained(topic: string, message: StoredMessage, batch: RetainedBatch): void {
  if (message.isExpired(batch.now)) {
    batch.expiredTopics.push(topic);
    return;
  }
  if (batch.sourceCheck !== null && !batch.sourceCheck.retainSourceAllows(message)) return;
  let qos: QoS;
  if (batch.upgradeQos) qos = batch.grantedQos;
  else qos = message.qos < batch.grantedQos ? message.qos : batch.grantedQos;
  batch.messages.push(message);
  batch.qos.push(qos);
  batch.subscriptionIds.push(batch.subscriptionId);
}

/**
 * How far one SUBSCRIBE has got: its filters are taken in order, and one whose plugin ACL
 * answer is pending makes the rest (and the client's next packets) wait for it.
 */
interface SubscribeProgress {
  readonly packet: SubscribePacket;
  readonly reasonCodes: number[];
  batch: RetainedBatch | null;
  next: number;
  /** The settled ACL answer for filter `next`, once it came. */
  answer: boolean | null;
}

export function handleSubscribe(conn: ClientConnection, packet: SubscribePacket): void {
  const broker = conn.broker;
  if (broker.debugLog) broker.log.debug(`Received SUBSCRIBE from ${conn.logId}`);
  subscribeFrom(conn, { packet, reasonCodes: [], batch: null, next: 0, answer: null });
}

function subscribeFrom(conn: ClientConnection, progress: SubscribeProgress): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  const listener = conn.listener.config;
  const v5 = conn.protocolVersion === ProtocolVersion.V5;
  const packet = progress.packet;
  const subscriptionId = packet.properties.subscriptionIdentifiers?.[0] ?? 0;
  const reasonCodes = progress.reasonCodes;
  const subscriptions = packet.subscriptions;

  for (; progress.next < subscriptions.length; progress.next++) {
    const subscription = subscriptions[progress.next] as (typeof subscriptions)[number];
    let filter = subscription.topicFilter;
    if (filter === '' || !isValidTopicFilter(filter)) {
      broker.log.info(
        `${filter === '' ? 'Empty' : 'Invalid'} subscription string from ${conn.transport.remoteAddress}, disconnecting.`,
      );
      throw new MqttError(ReasonCode.MalformedPacket, 'invalid topic filter', 'MQTT-4.7.1');
    }
    let noLocal = subscription.noLocal;
    let retainAsPublished = subscription.retainAsPublished;
    if (!v5 && session.isBridge) {
      noLocal = true;
      retainAsPublished = true;
    }
    const shared = parseSharedFilter(filter);
    if (v5 && noLocal && shared !== null) {
      // [MQTT-3.8.3-4]
      throw new MqttError(
        ReasonCode.ProtocolError,
        'No Local on a shared subscription',
        'MQTT-3.8.3-4',
      );
    }
    let qos = subscription.qos;
    if (qos > listener.maxQos) qos = listener.maxQos;
    if (listener.mountPoint !== null) {
      filter =
        shared === null
          ? listener.mountPoint + filter
          : `$share/${shared.group}/${listener.mountPoint}${shared.filter}`;
    }
    // A plugin's subscribe ACL (the ACL file decides on delivery instead).
    const security = broker.security;
    let allowed: boolean | Promise<boolean> = true;
    if (progress.answer !== null) {
      allowed = progress.answer;
      progress.answer = null;
    } else {
      if (broker.debugLog) broker.log.debug(`\t${filter} (QoS ${qos})`);
      if (security.aclActive) allowed = security.maySubscribe(session, filter, qos, false);
    }
    if (allowed !== true) {
      if (allowed === false) {
        broker.metrics.aclDeniedSubscribe++;
        reasonCodes.push(v5 ? ReasonCode.NotAuthorized : 0x80);
        continue;
      }
      conn.holdInputUntil(allowed, (answer) => {
        progress.answer = answer;
        subscribeFrom(conn, progress);
      });
      return;
    }
    const isNew = broker.subscribe(session, filter, {
      qos,
      noLocal,
      retainAsPublished,
      retainHandling: subscription.retainHandling,
      subscriptionId,
    });
    const wantsRetained =
      shared === null &&
      (!v5 || subscription.retainHandling === 0 || (subscription.retainHandling === 1 && isNew));
    if (wantsRetained && broker.retained.size > 0) {
      const batch = (progress.batch ??= new RetainedBatch());
      batch.grantedQos = qos;
      batch.subscriptionId = subscriptionId;
      batch.upgradeQos = broker.config.upgradeOutgoingQos;
      batch.now = broker.clock.now();
      batch.sourceCheck =
        broker.config.checkRetainSource && broker.security.aclActive ? broker.security : null;
      broker.retained.match(filter, visitRetained, batch);
    }
    broker.log.subscribe(`${session.clientId} ${qos} ${filter}`);
    reasonCodes.push(qos);
  }

  send.suback(conn, packet.packetId, reasonCodes);
  if (progress.batch !== null) deliverRetained(conn, session, progress.batch);
}

function deliverRetained(conn: ClientConnection, session: Session, batch: RetainedBatch): void {
  const broker = conn.broker;
  for (const topic of batch.expiredTopics) broker.retained.delete(topic);
  for (let i = 0; i < batch.messages.length; i++) {
    const message = batch.messages[i];
    if (message === undefined) continue;
    deliverToSession(
      broker,
      session,
      message,
      batch.qos[i] ?? 0,
      true,
      batch.subscriptionIds[i] ?? 0,
    );
  }
}
