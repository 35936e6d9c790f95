/**
 * UNSUBSCRIBE (handle_unsubscribe.c). MQTT 5 gets a reason per filter: 0x00, or 0x11
 * when no such subscription existed. Unlike Mosquitto 2.0 the listener's mount point
 * is applied here as on SUBSCRIBE (DEVIATIONS.md), so unsubscribing works there.
 */
import type { UnsubscribePacket } from '../../protocol/packets.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import { isValidTopicFilter, parseSharedFilter } from '../../protocol/topic.ts';
import type { ClientConnection } from '../client-connection.ts';
import * as send from '../send.ts';
import { requireSession } from './require-session.ts';

export function handleUnsubscribe(conn: ClientConnection, packet: UnsubscribePacket): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  const mountPoint = conn.listener.config.mountPoint;
  if (broker.debugLog) broker.log.debug(`Received UNSUBSCRIBE from ${conn.logId}`);
  const reasonCodes: number[] = [];
  for (let filter of packet.topicFilters) {
    if (filter === '' || !isValidTopicFilter(filter)) {
      broker.log.info(
        `${filter === '' ? 'Empty' : 'Invalid'} unsubscription string from ${conn.transport.remoteAddress}, disconnecting.`,
      );
      throw new MqttError(ReasonCode.MalformedPacket, 'invalid topic filter', 'MQTT-4.7.1');
    }
    if (mountPoint !== null) {
      const shared = parseSharedFilter(filter);
      filter =
        shared === null
          ? mountPoint + filter
          : `$share/${shared.group}/${mountPoint}${shared.filter}`;
    }
    if (broker.debugLog) broker.log.debug(`\t${filter}`);
    const security = broker.security;
    if (security.aclActive && !security.maySubscribe(session, filter, 0, true)) {
      reasonCodes.push(ReasonCode.NotAuthorized);
      continue;
    }
    const existed = broker.unsubscribe(session, filter);
    broker.log.unsubscribe(`${session.clientId} ${filter}`);
    reasonCodes.push(existed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
  }
  send.unsuback(conn, packet.packetId, reasonCodes);
}
