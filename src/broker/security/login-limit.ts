/**
 * The CONNECT handler's two touch points with the failed-login limiter
 * (auth-failure-limiter.ts), and their log lines: a check before any password is
 * hashed, and a note when a login is refused.
 */
import { MqttError } from '../../protocol/errors.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import type { ClientConnection } from '../client-connection.ts';
import type { BrokerLog } from '../broker-log.ts';
import type { AuthFailureLimiter } from './auth-failure-limiter.ts';

/** Throws CONNACK 5 / 0x87 when the client's address is blocked. */
export function refuseIfBlocked(conn: ClientConnection): void {
  const limiter = conn.broker.authFailures;
  if (!limiter.enabled) return;
  const address = conn.transport.remoteAddress;
  const remaining = limiter.blockedFor(address);
  if (remaining === 0) return;
  conn.broker.log.notice(
    `Client ${conn.clientId} from ${address} refused: too many failed logins, blocked for another ${Math.ceil(remaining / 1000)} s.`,
  );
  throw new MqttError(
    ReasonCode.NotAuthorized,
    'address blocked after failed logins',
    'MQTT-3.1.4-2',
  );
}

/** A login from the client's address was refused (password, anonymous, or plugin). */
export function noteLoginRefused(conn: ClientConnection): void {
  noteRefusedFrom(conn.broker, conn.transport.remoteAddress);
}

/** What the limiter's bookkeeping needs: the broker's limiter and log. */
export interface LoginLimitHost {
  readonly authFailures: AuthFailureLimiter;
  readonly log: BrokerLog;
}

/**
 * A login from `address` was refused, over MQTT or on the dashboard (one table: an
 * attacker is the same address on every port).
 */
export function noteRefusedFrom(host: LoginLimitHost, address: string): void {
  const limiter = host.authFailures;
  if (!limiter.enabled) return;
  const outcome = limiter.recordFailure(address);
  if (outcome.evicted) {
    if (!limiter.fullWarned) {
      limiter.fullWarned = true;
      host.log.warning(
        `Warning: Failed login table full (${limiter.capacity} addresses): forgetting the least recent ones.`,
      );
    }
  } else if (limiter.size < limiter.capacity) {
    limiter.fullWarned = false;
  }
  if (outcome.blocked) {
    const { maxFailures, windowSeconds, blockSeconds } = limiter.settings;
    host.log.notice(
      `Too many failed logins from ${address} (${maxFailures} within ${windowSeconds} s): refusing its connections for ${blockSeconds} s.`,
    );
  }
}
