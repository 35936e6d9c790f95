/**
 * Session expiry (session_expiry.c): a disconnected durable session is dropped after its
 * Session Expiry Interval, capped by persistent_client_expiration; 0xFFFFFFFF without a
 * cap never expires. One timer per waiting session, on the injected clock.
 */
import type { Broker } from './broker.ts';
import type { Session } from './session.ts';
import { SESSION_NEVER_EXPIRES } from './session.ts';

/** Seconds until a disconnected session expires, or -1 for never. */
export function sessionLifetime(
  expiryInterval: number,
  persistentClientExpiration: number,
): number {
  if (persistentClientExpiration > 0 && persistentClientExpiration < expiryInterval) {
    return persistentClientExpiration;
  }
  return expiryInterval === SESSION_NEVER_EXPIRES ? -1 : expiryInterval;
}

/**
 * Starts the expiry timer of a disconnected session: after its lifetime, or after
 * `remainingSeconds` when that is not negative (a session restored from a store, whose
 * deadline was set before the restart).
 */
export function scheduleSessionExpiry(
  broker: Broker,
  session: Session,
  remainingSeconds: number,
): void {
  const lifetime = sessionLifetime(
    session.expiryInterval,
    broker.config.persistentClientExpiration,
  );
  const seconds = remainingSeconds >= 0 ? Math.max(0, remainingSeconds) : lifetime;
  session.expiryWallTime = seconds < 0 ? 0 : broker.clock.wallSeconds() + seconds;
  if (seconds < 0) return;
  session.expiryTimer = broker.clock.setTimer(() => {
    session.expiryTimer = null;
    expireSession(broker, session);
  }, seconds * 1000);
}

export function cancelSessionExpiry(broker: Broker, session: Session): void {
  if (session.expiryTimer === null) return;
  broker.clock.cancel(session.expiryTimer);
  session.expiryTimer = null;
}

/** The session outlived its expiry interval: drop it (and send a will still waiting). */
function expireSession(broker: Broker, session: Session): void {
  if (broker.sessions.get(session.clientId) !== session || session.connection !== null) return;
  broker.log.notice(`Expiring client ${session.clientId} due to timeout.`);
  broker.metrics.clientsExpired++;
  broker.delayedWills.publishNow(session.clientId);
  broker.removeSession(session);
}
