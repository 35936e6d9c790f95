/**
 * The broker's resolved configuration: what `mosquitto.conf` (or an embedding program)
 * asks for, with Mosquitto 2.0.22's defaults. The config parser produces it; the broker
 * only reads it. Names follow the mosquitto.conf options they come from.
 */
import type { QoS } from '../../protocol/constants.ts';

export type LogType =
  | 'debug'
  | 'error'
  | 'warning'
  | 'notice'
  | 'information'
  | 'subscribe'
  | 'unsubscribe'
  | 'websockets'
  | 'internal';

export type LogDestination =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'stderr' }
  | { readonly kind: 'topic' }
  | { readonly kind: 'syslog' }
  | { readonly kind: 'file'; readonly path: string };

export interface LogConfig {
  /** `log_dest`; default stderr. Empty means `log_dest none`. */
  readonly destinations: readonly LogDestination[];
  /** `log_type`; default error, warning, notice, information. `-v` adds all. */
  readonly types: ReadonlySet<LogType>;
  /** `connection_messages` */
  readonly connectionMessages: boolean;
  /** `log_timestamp` */
  readonly timestamp: boolean;
  /** `log_timestamp_format` (strftime); null prints Unix seconds. */
  readonly timestampFormat: string | null;
}

/** Options that become per listener when `per_listener_settings true`, else global. */
export interface SecurityConfig {
  /** `allow_anonymous`: false once any listener is configured, true in local-only mode. */
  readonly allowAnonymous: boolean;
  /** `allow_zero_length_clientid` */
  readonly allowZeroLengthClientid: boolean;
  /** `auto_id_prefix` */
  readonly autoIdPrefix: string;
  /** `password_file`, `acl_file`, `psk_file` (issue 5). */
  readonly passwordFile: string | null;
  readonly aclFile: string | null;
  readonly pskFile: string | null;
}

export interface ListenerConfig {
  /** 0 with `unixSocketPath` for a unix socket listener. */
  readonly port: number;
  /** null binds all interfaces (both address families unless `socketDomain`). */
  readonly bindAddress: string | null;
  readonly unixSocketPath: string | null;
  readonly protocol: 'mqtt' | 'websockets';
  readonly socketDomain: 'ipv4' | 'ipv6' | null;
  /** -1 is unlimited. */
  readonly maxConnections: number;
  readonly mountPoint: string | null;
  /** `max_qos` */
  readonly maxQos: QoS;
  /** `max_topic_alias` (client to broker), 0 disables. */
  readonly maxTopicAlias: number;
  readonly useUsernameAsClientid: boolean;
  /** Effective security for clients of this listener (global unless per_listener_settings). */
  readonly security: SecurityConfig;
}

export interface BrokerConfig {
  readonly listeners: readonly ListenerConfig[];
  /** No listener/port/bind_address was configured: 127.0.0.1 and ::1 only. */
  readonly localOnly: boolean;
  readonly perListenerSettings: boolean;
  /** Global security settings (used by listeners unless per_listener_settings). */
  readonly security: SecurityConfig;

  readonly maxInflightMessages: number;
  readonly maxInflightBytes: number;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly queueQos0Messages: boolean;
  /** Largest PUBLISH payload; 0 is no limit. */
  readonly messageSizeLimit: number;
  /** Largest incoming packet; 0 is no limit. */
  readonly maxPacketSize: number;
  /** 0 is not enforced. */
  readonly maxKeepalive: number;
  readonly upgradeOutgoingQos: boolean;
  readonly retainAvailable: boolean;
  readonly checkRetainSource: boolean;
  /** Seconds; 0 is never. */
  readonly persistentClientExpiration: number;
  /** Seconds between $SYS updates; 0 disables $SYS. */
  readonly sysInterval: number;
  readonly setTcpNodelay: boolean;

  readonly persistence: boolean;
  readonly persistenceLocation: string | null;
  readonly persistenceFile: string;
  readonly autosaveInterval: number;

  readonly log: LogConfig;
}

export const DEFAULT_LOG_TYPES: ReadonlySet<LogType> = new Set<LogType>([
  'error',
  'warning',
  'notice',
  'information',
]);

export function defaultSecurity(localOnly: boolean): SecurityConfig {
  return {
    allowAnonymous: localOnly,
    allowZeroLengthClientid: true,
    autoIdPrefix: 'auto-',
    passwordFile: null,
    aclFile: null,
    pskFile: null,
  };
}

export function defaultListener(port: number, security: SecurityConfig): ListenerConfig {
  return {
    port,
    bindAddress: null,
    unixSocketPath: null,
    protocol: 'mqtt',
    socketDomain: null,
    maxConnections: -1,
    mountPoint: null,
    maxQos: 2,
    maxTopicAlias: 10,
    useUsernameAsClientid: false,
    security,
  };
}

/**
 * Mosquitto's configuration when started without `-c`: local-only mode, listeners on
 * 127.0.0.1 and ::1 at each given port (1883 by default), anonymous clients allowed.
 */
export function defaultConfig(ports: readonly number[] = [1883]): BrokerConfig {
  const security = defaultSecurity(true);
  const listeners: ListenerConfig[] = [];
  for (const port of ports) {
    listeners.push({ ...defaultListener(port, security), bindAddress: '127.0.0.1' });
    listeners.push({ ...defaultListener(port, security), bindAddress: '::1' });
  }
  return {
    listeners,
    localOnly: true,
    perListenerSettings: false,
    security,
    maxInflightMessages: 20,
    maxInflightBytes: 0,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 0,
    queueQos0Messages: false,
    messageSizeLimit: 0,
    maxPacketSize: 0,
    maxKeepalive: 0,
    upgradeOutgoingQos: false,
    retainAvailable: true,
    checkRetainSource: true,
    persistentClientExpiration: 0,
    sysInterval: 10,
    setTcpNodelay: false,
    persistence: false,
    persistenceLocation: null,
    persistenceFile: 'mosquitto.db',
    autosaveInterval: 1800,
    log: {
      destinations: [{ kind: 'stderr' }],
      types: DEFAULT_LOG_TYPES,
      connectionMessages: true,
      timestamp: true,
      timestampFormat: null,
    },
  };
}
