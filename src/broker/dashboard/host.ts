/**
 * The broker as the web dashboard sees it (Broker satisfies it): the dashboard modules
 * read these registries and call these few methods, and never import broker.ts.
 */
import type { BrokerConfig, ListenerConfig } from '../config/types.ts';
import type { BrokerLog } from '../broker-log.ts';
import type { BrokerMetrics } from '../metrics.ts';
import type { BridgeLinkState } from '../bridge-hooks.ts';
import type { KickTarget, PluginClient } from '../plugins/api.ts';
import type { HttpApiRoutes } from '../http-api/routes.ts';
import type { ConnectionState } from '../client-connection.ts';
import type { AuthFailureLimiter } from '../security/auth-failure-limiter.ts';

export interface DashboardSession {
  readonly queue: { readonly length: number };
  readonly inflight: { readonly size: number };
}

export interface DashboardConnection {
  readonly clientId: string;
  readonly username: string | null;
  readonly protocolVersion: number;
  readonly state: ConnectionState;
  readonly keepaliveMs: number;
  /** Wall-clock seconds. */
  readonly connectedAt: number;
  readonly session: DashboardSession | null;
  readonly bridge: { readonly name: string } | null;
  readonly transport: { readonly remoteAddress: string; readonly remotePort: number };
  readonly listener: { readonly config: ListenerConfig; readonly port: number };
}

export interface DashboardRetained {
  readonly payload: Buffer;
  readonly qos: number;
}

export interface DashboardMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: boolean;
  readonly clientId: string;
}

export interface DashboardListener {
  readonly config: ListenerConfig;
  readonly port: number;
}

export interface DashboardSecurity {
  authenticate(
    listener: ListenerConfig,
    username: string | null,
    password: Buffer | null,
    client: PluginClient,
  ): boolean | Promise<boolean>;
  clientMayRead(listener: ListenerConfig, client: PluginClient, topic: string): Promise<boolean>;
}

export interface DashboardHost {
  readonly config: BrokerConfig;
  readonly log: BrokerLog;
  readonly metrics: BrokerMetrics;
  readonly startedAt: number;
  readonly clock: { now(): number };
  readonly sessions: ReadonlyMap<string, unknown>;
  readonly connections: ReadonlySet<DashboardConnection>;
  readonly retained: {
    readonly size: number;
    forEach<C>(
      visit: (topic: string, message: DashboardRetained, context: C) => void,
      context: C,
    ): void;
  };
  readonly listenerSockets: readonly DashboardListener[];
  readonly httpRoutes: HttpApiRoutes;
  readonly security: DashboardSecurity;
  /** The failed-login limiter (max_auth_failures): dashboard logins count and obey it too. */
  readonly authFailures: AuthFailureLimiter;
  kick(who: KickTarget): void;
  bridgeStates(): readonly { readonly name: string; readonly state: BridgeLinkState }[];
  on(event: 'messagePublished', listener: (message: DashboardMessage) => void): unknown;
  off(event: 'messagePublished', listener: (message: DashboardMessage) => void): unknown;
}
