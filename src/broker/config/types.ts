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

export interface AuthFailureLimitConfig {
  /** Refused logins within windowSeconds that block an address; 0 is off. */
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly blockSeconds: number;
}

/** Where `log_dest_json` (ours) writes JSON lines. */
export type JsonLogDestination =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'stderr' }
  | { readonly kind: 'file'; readonly path: string };

/** The fields of a log event, written as keys of its JSON line (log_dest_json). */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

export interface LogConfig {
  /** `log_dest`; default stderr. Empty means `log_dest none`. */
  readonly destinations: readonly LogDestination[];
  /** `log_dest_json` (ours): JSON-lines destinations besides `log_dest`; none by default. */
  readonly jsonDestinations?: readonly JsonLogDestination[];
  /** `log_type`; default error, warning, notice, information. `-v` adds all. */
  readonly types: ReadonlySet<LogType>;
  /** `connection_messages` */
  readonly connectionMessages: boolean;
  /** `log_timestamp` */
  readonly timestamp: boolean;
  /** `log_timestamp_format` (strftime); null prints Unix seconds. */
  readonly timestampFormat: string | null;
  /** `log_facility` 0-7 (syslog LOCALn); null is the daemon facility. */
  readonly facility?: number | null;
}

/** The options of Mosquitto 2.1's persist-sqlite plugin (`plugin_opt_*`). */
export interface SqlitePersistenceConfig {
  /** plugin_opt_db_file; null: `<persistence_location>/mosquitto.sqlite3`. */
  readonly dbFile: string | null;
  /** plugin_opt_sync: extra, full, normal (default) or off. */
  readonly sync: 'extra' | 'full' | 'normal' | 'off';
  /** plugin_opt_flush_period: seconds between commits (default 5). */
  readonly flushPeriod: number;
  /** plugin_opt_page_size: 0 for SQLite's default. */
  readonly pageSize: number;
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
  /** `plugin` / `auth_plugin` lines with their `plugin_opt_*` options, in file order. */
  readonly plugins?: readonly PluginConfig[];
}

/** One `plugin` (alias `auth_plugin`) line and the options that follow it. */
export interface PluginConfig {
  readonly path: string;
  /** `plugin_opt_<key> <value>` / `auth_opt_<key> <value>`, in file order. */
  readonly options: readonly (readonly [key: string, value: string])[];
  /** `auth_plugin_deny_special_chars` */
  readonly denySpecialChars: boolean;
}

/** The certificate and PSK options of one listener (§1.3, §1.4). */
export interface ListenerTlsConfig {
  readonly cafile: string | null;
  readonly capath: string | null;
  readonly certfile: string | null;
  readonly keyfile: string | null;
  readonly ciphers: string | null;
  /** `ciphers_tls1.3` */
  readonly ciphersTls13: string | null;
  readonly crlfile: string | null;
  readonly dhparamfile: string | null;
  readonly pskHint: string | null;
  readonly requireCertificate: boolean;
  readonly useIdentityAsUsername: boolean;
  readonly useSubjectAsUsername: boolean;
  /** Minimum TLS version (`tlsv1.3`, `tlsv1.2`, `tlsv1.1`); null is the default. */
  readonly tlsVersion: string | null;
  readonly tlsEngine: string | null;
  readonly tlsKeyform: 'pem' | 'engine';
  readonly tlsEngineKpassSha1: string | null;
  /**
   * `tls_reload_on_change` (a mosquitto-ts extension): reload the certificate, key, CA
   * and CRL files when they change on disk, as SIGHUP does.
   */
  readonly reloadOnChange?: boolean;
}

export interface ListenerConfig {
  /** 0 with `unixSocketPath` for a unix socket listener. */
  readonly port: number;
  /** null binds all interfaces (both address families unless `socketDomain`). */
  readonly bindAddress: string | null;
  readonly unixSocketPath: string | null;
  readonly protocol: 'mqtt' | 'websockets' | 'http_api';
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
  /** `bind_interface` (SO_BINDTODEVICE). */
  readonly bindInterface?: string | null;
  /** `http_dir` (websockets and http_api listeners). */
  readonly httpDir?: string | null;
  /** TLS/PSK options; absent or null when none was given for this listener. */
  readonly tls?: ListenerTlsConfig | null;
}

export interface BridgeAddress {
  readonly host: string;
  readonly port: number;
}

export interface BridgeTopic {
  /** null for the empty pattern `""` (only allowed with both prefixes). */
  readonly pattern: string | null;
  readonly direction: 'in' | 'out' | 'both';
  readonly qos: QoS;
  readonly localPrefix: string | null;
  readonly remotePrefix: string | null;
}

/** One `connection <name>` block (§1.9). */
export interface BridgeConfig {
  readonly name: string;
  readonly addresses: readonly BridgeAddress[];
  readonly roundRobin: boolean;
  readonly topics: readonly BridgeTopic[];
  /** Defaults to `<hostname>.<name>`. */
  readonly remoteClientid: string;
  /** Defaults to `local.<remoteClientid>`. */
  readonly localClientid: string;
  readonly remoteUsername: string | null;
  readonly remotePassword: string | null;
  readonly localUsername: string | null;
  readonly localPassword: string | null;
  readonly cleansession: boolean;
  /** null: same as `cleansession`. */
  readonly localCleansession: boolean | null;
  readonly keepaliveInterval: number;
  readonly protocolVersion: 'mqttv31' | 'mqttv311' | 'mqttv50';
  readonly tryPrivate: boolean;
  readonly notifications: boolean;
  readonly notificationsLocalOnly: boolean;
  readonly notificationTopic: string | null;
  readonly startType: 'automatic' | 'lazy' | 'once';
  /** `restart_timeout <s>`: constant reconnect delay, used when backoffCap is 0. */
  readonly restartTimeout: number;
  /** `restart_timeout <base> <cap>` (default 5 30): jittered backoff between the two. */
  readonly backoffBase: number;
  readonly backoffCap: number;
  readonly threshold: number;
  readonly idleTimeout: number;
  readonly attemptUnsubscribe: boolean;
  readonly outgoingRetain: boolean;
  /** 0 is no limit. */
  readonly maxPacketSize: number;
  readonly bindAddress: string | null;
  readonly cafile: string | null;
  readonly capath: string | null;
  readonly certfile: string | null;
  readonly keyfile: string | null;
  readonly insecure: boolean;
  readonly tlsVersion: string | null;
  readonly alpn: string | null;
  readonly requireOcsp: boolean;
  readonly identity: string | null;
  readonly psk: string | null;

  // Mosquitto 2.1's bridge options.
  /** `bridge_ciphers`: OpenSSL cipher list for TLS 1.2 and earlier; null (default): OpenSSL's. */
  readonly ciphers: string | null;
  /** `bridge_ciphers_tls1.3`: TLS 1.3 ciphersuites, colon-separated; null (default): OpenSSL's. */
  readonly ciphersTls13: string | null;
  /**
   * `bridge_tls_use_os_certs`: trust the system's default CA certificates; like
   * `bridge_cafile`/`bridge_capath` it turns TLS on for the bridge. Default false.
   */
  readonly tlsUseOsCerts: boolean;
  /**
   * `bridge_max_topic_alias` (MQTT 5 bridges): the Topic Alias Maximum offered to the remote
   * broker in CONNECT, 0-65535; 0 sends none, so the remote may not use aliases. Mosquitto
   * 2.1's default is 10; null (not given) keeps 2.0's CONNECT, which offers none.
   */
  readonly maxTopicAlias: number | null;
  /**
   * `bridge_receive_maximum` (MQTT 5 bridges): the Receive Maximum sent in CONNECT, QoS 1/2
   * messages in flight from the remote, 1-65535. 0 (default): not set, so CONNECT carries
   * `max_inflight_messages` (default 20), as Mosquitto 2.1 does.
   */
  readonly receiveMaximum: number;
  /**
   * `bridge_session_expiry_interval` (MQTT 5 bridges): the Session Expiry Interval sent in
   * CONNECT, in seconds; 0 (default) sends none: the session ends with the connection.
   * Mosquitto 2.1.2 reads it as a signed int, so at most 2147483647.
   */
  readonly sessionExpiryInterval: number;
  /**
   * `bridge_reload_type`: after a SIGHUP changed this bridge's options, `lazy` (default)
   * applies them at the next natural reconnection, `immediate` reconnects at once.
   */
  readonly reloadType: 'lazy' | 'immediate';
  /**
   * `bridge_tcp_keepalive <idle> <interval> <counter>`: TCP keepalive on the bridge socket
   * (TCP_KEEPIDLE and TCP_KEEPINTVL in seconds, TCP_KEEPCNT probes; each at least 1).
   * null (default): TCP keepalive is not turned on for the bridge socket.
   */
  readonly tcpKeepalive: BridgeTcpKeepalive | null;
  /**
   * `bridge_tcp_user_timeout`: TCP_USER_TIMEOUT of the bridge socket, in milliseconds (how
   * long sent data may stay unacknowledged; 0 is the system's default). null (default):
   * not set. Linux only in Mosquitto.
   */
  readonly tcpUserTimeout: number | null;
}

/** `bridge_tcp_keepalive`'s three values. */
export interface BridgeTcpKeepalive {
  /** Seconds idle before the first probe (TCP_KEEPIDLE). */
  readonly idle: number;
  /** Seconds between probes (TCP_KEEPINTVL). */
  readonly interval: number;
  /** Unanswered probes before the connection is dropped (TCP_KEEPCNT). */
  readonly count: number;
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
  /** `persistence_durable_ack` (ours): acknowledge QoS 1/2 only once stored (fsync). */
  readonly persistenceDurableAck?: boolean;
  /**
   * `max_auth_failures`, `auth_failure_window`, `auth_block_period` (ours): refuse an
   * address's CONNECTs for a while after too many refused logins. Absent: off.
   */
  readonly authFailureLimit?: AuthFailureLimitConfig;
  /** A `plugin`/`global_plugin` line naming Mosquitto 2.1's mosquitto_persist_sqlite.so. */
  readonly sqlitePersistence?: SqlitePersistenceConfig | null;
  /** `global_plugin` lines (Mosquitto 2.1): plugins for every listener, asked first. */
  readonly globalPlugins?: readonly PluginConfig[];

  readonly log: LogConfig;
  /**
   * `dashboard_users` (ours): who may log in to the web dashboard of http_api listeners
   * and act there (disconnect clients). null/absent: no login, the dashboard is
   * read-only and answers only on loopback listeners.
   */
  readonly dashboardUsers?: readonly string[] | null;

  // The options below are parsed and kept, but the broker may not act on them yet; the
  // parser warns about each one it meets (see `unimplementedOptions`).
  /** `user`: drop privileges to this user when started as root. */
  readonly user?: string;
  readonly pidFile?: string | null;
  readonly allowDuplicateMessages?: boolean;
  readonly autosaveOnChanges?: boolean;
  readonly clientidPrefixes?: string | null;
  /** Bytes; 0 is no limit. */
  readonly memoryLimit?: number;
  /** Seconds (the option is given in minutes); 0 is off. */
  readonly retainExpiryInterval?: number;
  readonly websocketsLogLevel?: number;
  readonly websocketsHeadersSize?: number;
  readonly bridges?: readonly BridgeConfig[];
  /** Options present in the file that mosquitto-ts accepts but does not implement yet. */
  readonly unimplementedOptions?: readonly string[];
}

export const DEFAULT_LOG_TYPES: ReadonlySet<LogType> = new Set<LogType>([
  'error',
  'warning',
  'notice',
  'information',
]);

/** `log_type all` and `-v`: every type. */
export const ALL_LOG_TYPES: ReadonlySet<LogType> = new Set<LogType>([
  'debug',
  'error',
  'warning',
  'notice',
  'information',
  'subscribe',
  'unsubscribe',
  'websockets',
  'internal',
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
