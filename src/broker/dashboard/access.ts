/**
 * Who may use the dashboard on a listener. With `dashboard_users`, those users log in
 * (the broker's own authentication) and may act; without it the dashboard is read-only
 * without login, and only on a listener bound to a loopback address (or a unix socket),
 * since anyone who can reach another listener would see every client and message.
 */
import type { BrokerConfig, ListenerConfig } from '../config/types.ts';

export type DashboardAccess = 'login' | 'read-only' | 'refused';

export function isLoopbackListener(listener: ListenerConfig): boolean {
  if (listener.unixSocketPath !== null) return true;
  const host = listener.bindAddress;
  if (host === null) return false;
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function dashboardAccess(config: BrokerConfig, listener: ListenerConfig): DashboardAccess {
  if ((config.dashboardUsers?.length ?? 0) > 0) return 'login';
  return isLoopbackListener(listener) ? 'read-only' : 'refused';
}

/** The start-up log line for a listener's dashboard: why it is refused, or how it is served. */
export function accessLogLine(
  config: BrokerConfig,
  listener: ListenerConfig,
  port: number,
): string {
  const access = dashboardAccess(config, listener);
  if (access === 'refused') {
    return (
      `Dashboard refused on the http_api listener on port ${port}: dashboard_users is not set ` +
      `and the listener is not bound to a loopback address (set dashboard_users to allow logins).`
    );
  }
  if (access === 'read-only') {
    return `Dashboard on the http_api listener on port ${port}: read-only without login (loopback listener, no dashboard_users).`;
  }
  return `Dashboard on the http_api listener on port ${port}: login for ${(config.dashboardUsers ?? []).join(', ')}.`;
}
