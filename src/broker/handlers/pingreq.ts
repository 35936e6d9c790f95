/** PINGREQ: always answered with PINGRESP. */
import type { ClientConnection } from '../client-connection.ts';
import * as send from '../send.ts';
import { requireSession } from './require-session.ts';

export function handlePingreq(conn: ClientConnection): void {
  requireSession(conn);
  if (conn.broker.debugLog) conn.broker.log.debug(`Received PINGREQ from ${conn.logId}`);
  send.pingresp(conn);
}
