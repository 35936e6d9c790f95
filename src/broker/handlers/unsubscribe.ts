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
  const broker = conn.broker;
  if (broker.debugLog) broker.log.debug(`Received UNSUBSCRIBE from ${conn.logId}`);
  unsubscribeFrom(conn, packet, [], 0, null);
}

/**
 * Filters from `next` on; `answer` is the settled plugin ACL answer for filter `next`
 * when its check had to wait (the client's next packets wait with it).
 */
function unsubscribeFrom(
  conn: ClientConnection,
  packet: UnsubscribePacket,
  reasonCodes: number[],
  next: number,
  answer: boolean | null,
): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  const mountPoint = conn.listener.config.mountPoint;
  const filters = packet.topicFilters;
  for (let i = next; i < filters.length; i++) {
    let filter = filters[i] as string;
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
    const security = broker.security;
    let allowed: boolean | Promise<boolean> = true;
    if (i === next && answer !== null) {
      allowed = answer;
    } else {
      if (broker.debugLog) broker.log.debug(`\t${filter}`);
      if (security.aclActive) allowed = security.maySubscribe(session, filter, 0, true);
    }
    if (allowed !== true) {
      if (allowed === false) {
        reasonCodes.push(ReasonCode.NotAuthorized);
        continue;
      }
      conn.holdInputUntil(allowed, (settled) => {
        unsubscribeFrom(conn, packet, reasonCodes, i, settled);
      });
      return;
    }
    const existed = broker.unsubscribe(session, filter);
    broker.log.unsubscribe(`${session.clientId} ${filter}`);
    reasonCodes.push(existed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
  }
  send.unsuback(conn, packet.packetId, reasonCodes);
}
