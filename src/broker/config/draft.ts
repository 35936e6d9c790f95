/**
 * The configuration while it is being read: mutable drafts that the option table writes
 * into, turned into the immutable BrokerConfig by finalize.ts. They mirror Mosquitto's
 * `struct mosquitto__config` closely enough that its rules (e.g. "unset" allow_anonymous,
 * port 0 meaning "no `port` line") can be reproduced.
 */
import type { QoS } from '../../protocol/constants.ts';
import type {
  BridgeAddress,
  BridgeTcpKeepalive,
  BridgeTopic,
  JsonLogDestination,
  ListenerTlsConfig,
  LogType,
} from './types.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface PluginDraft {
  path: string | null;
  options: [string, string][];
  denySpecialChars: boolean;
}

export interface SecurityDraft {
  /** null: not set (Mosquitto's -1); resolved once the whole file has been read. */
  allowAnonymous: boolean | null;
  allowZeroLengthClientid: boolean;
  /** null: not set; "auto-" is filled in at the end. */
  autoIdPrefix: string | null;
  passwordFile: string | null;
  aclFile: string | null;
  pskFile: string | null;
  plugins: PluginDraft[];
}

export type TlsDraft = Mutable<ListenerTlsConfig>;

export interface ListenerDraft {
  /** 0 on the default listener means "no `port` line" (1883 is filled in at the end). */
  port: number;
  host: string | null;
  unixSocketPath: string | null;
  protocol: 'mqtt' | 'websockets' | 'http_api';
  socketDomain: 'ipv4' | 'ipv6' | null;
  maxConnections: number;
  mountPoint: string | null;
  maxQos: QoS;
  maxTopicAlias: number;
  useUsernameAsClientid: boolean;
  bindInterface: string | null;
  httpDir: string | null;
  tls: TlsDraft;
  /** Used only with `per_listener_settings true`. */
  security: SecurityDraft;
}

export interface BridgeDraft {
  name: string;
  addresses: BridgeAddress[] | null;
  roundRobin: boolean;
  topics: BridgeTopic[];
  remoteClientid: string | null;
  localClientid: string | null;
  remoteUsername: string | null;
  remotePassword: string | null;
  localUsername: string | null;
  localPassword: string | null;
  cleansession: boolean;
  localCleansession: boolean | null;
  keepaliveInterval: number;
  protocolVersion: 'mqttv31' | 'mqttv311' | 'mqttv50';
  tryPrivate: boolean;
  notifications: boolean;
  notificationsLocalOnly: boolean;
  notificationTopic: string | null;
  startType: 'automatic' | 'lazy' | 'once';
  restartTimeout: number;
  backoffBase: number;
  backoffCap: number;
  threshold: number;
  idleTimeout: number;
  attemptUnsubscribe: boolean;
  outgoingRetain: boolean;
  maxPacketSize: number;
  bindAddress: string | null;
  cafile: string | null;
  capath: string | null;
  certfile: string | null;
  keyfile: string | null;
  insecure: boolean;
  tlsVersion: string | null;
  alpn: string | null;
  requireOcsp: boolean;
  identity: string | null;
  psk: string | null;
  // Mosquitto 2.1's bridge options; BridgeConfig documents each.
  ciphers: string | null;
  ciphersTls13: string | null;
  tlsUseOsCerts: boolean;
  maxTopicAlias: number | null;
  receiveMaximum: number;
  sessionExpiryInterval: number;
  reloadType: 'lazy' | 'immediate';
  tcpKeepalive: BridgeTcpKeepalive | null;
  tcpUserTimeout: number | null;
}

/** `log_dest` lines accumulate across the main file and its includes. */
export interface LogDestDraft {
  stdout: boolean;
  stderr: boolean;
  file: boolean;
  syslog: boolean;
  topic: boolean;
  dlt: boolean;
}

export interface ConfigDraft {
  listeners: ListenerDraft[];
  /** Receives listener options that come before the first `listener` line of a file. */
  defaultListener: ListenerDraft;
  security: SecurityDraft;
  perListenerSettings: boolean;
  /** Cleared by `listener`, `port` and `bind_address`. */
  localOnly: boolean;
  /** A security option has been seen (for the per_listener_settings placement rule). */
  securityTouched: boolean;
  bridges: BridgeDraft[];

  /** null until a `log_dest` line is seen; then the accumulated set. */
  logDest: LogDestDraft | null;
  logFile: string | null;
  /** `log_dest_json` lines, in order (none: no JSON log). */
  logDestJson: JsonLogDestination[];
  /** `dashboard_users` (ours), accumulated; null without the option. */
  dashboardUsers: string[] | null;
  /** null until a `log_type` line is seen. */
  logTypes: Set<LogType> | null;
  logFacility: number | null;
  connectionMessages: boolean;
  logTimestamp: boolean;
  logTimestampFormat: string | null;

  maxInflightMessages: number;
  maxInflightBytes: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  queueQos0Messages: boolean;
  messageSizeLimit: number;
  maxPacketSize: number;
  maxKeepalive: number;
  upgradeOutgoingQos: boolean;
  retainAvailable: boolean;
  checkRetainSource: boolean;
  persistentClientExpiration: number;
  sysInterval: number;
  setTcpNodelay: boolean;
  persistence: boolean;
  persistenceLocation: string | null;
  persistenceFile: string | null;
  autosaveInterval: number;

  user: string | null;
  pidFile: string | null;
  allowDuplicateMessages: boolean;
  autosaveOnChanges: boolean;
  persistenceDurableAck: boolean;
  maxAuthFailures: number;
  authFailureWindow: number;
  authBlockPeriod: number;
  /** `global_plugin` lines (Mosquitto 2.1). */
  globalPlugins: PluginDraft[];
  clientidPrefixes: string | null;
  memoryLimit: number;
  retainExpiryInterval: number;
  websocketsLogLevel: number;
  websocketsHeadersSize: number;
}

export function newSecurityDraft(): SecurityDraft {
  return {
    allowAnonymous: null,
    allowZeroLengthClientid: true,
    autoIdPrefix: null,
    passwordFile: null,
    aclFile: null,
    pskFile: null,
    plugins: [],
  };
}

export function newTlsDraft(): TlsDraft {
  return {
    cafile: null,
    capath: null,
    certfile: null,
    keyfile: null,
    ciphers: null,
    ciphersTls13: null,
    crlfile: null,
    dhparamfile: null,
    pskHint: null,
    requireCertificate: false,
    useIdentityAsUsername: false,
    useSubjectAsUsername: false,
    tlsVersion: null,
    tlsEngine: null,
    tlsKeyform: 'pem',
    tlsEngineKpassSha1: null,
  };
}

/** Mosquitto's `listener__set_defaults`. */
export function newListenerDraft(port: number): ListenerDraft {
  return {
    port,
    host: null,
    unixSocketPath: null,
    protocol: 'mqtt',
    socketDomain: null,
    maxConnections: -1,
    mountPoint: null,
    maxQos: 2,
    maxTopicAlias: 10,
    useUsernameAsClientid: false,
    bindInterface: null,
    httpDir: null,
    tls: newTlsDraft(),
    security: newSecurityDraft(),
  };
}

/** A `connection <name>` line's defaults. */
export function newBridgeDraft(name: string): BridgeDraft {
  return {
    name,
    addresses: null,
    roundRobin: false,
    topics: [],
    remoteClientid: null,
    localClientid: null,
    remoteUsername: null,
    remotePassword: null,
    localUsername: null,
    localPassword: null,
    cleansession: false,
    localCleansession: null,
    keepaliveInterval: 60,
    protocolVersion: 'mqttv311',
    tryPrivate: true,
    notifications: true,
    notificationsLocalOnly: false,
    notificationTopic: null,
    startType: 'automatic',
    restartTimeout: 0,
    backoffBase: 5,
    backoffCap: 30,
    threshold: 10,
    idleTimeout: 60,
    attemptUnsubscribe: true,
    outgoingRetain: true,
    maxPacketSize: 0,
    bindAddress: null,
    cafile: null,
    capath: null,
    certfile: null,
    keyfile: null,
    insecure: false,
    tlsVersion: null,
    alpn: null,
    requireOcsp: false,
    identity: null,
    psk: null,
    ciphers: null,
    ciphersTls13: null,
    tlsUseOsCerts: false,
    maxTopicAlias: null,
    receiveMaximum: 0,
    sessionExpiryInterval: 0,
    reloadType: 'lazy',
    tcpKeepalive: null,
    tcpUserTimeout: null,
  };
}

/** Mosquitto 2.0.22's `config__init` defaults. */
export function newConfigDraft(): ConfigDraft {
  return {
    listeners: [],
    defaultListener: newListenerDraft(0),
    security: newSecurityDraft(),
    perListenerSettings: false,
    localOnly: true,
    securityTouched: false,
    bridges: [],
    logDest: null,
    logFile: null,
    logDestJson: [],
    dashboardUsers: null,
    logTypes: null,
    logFacility: null,
    connectionMessages: true,
    logTimestamp: true,
    logTimestampFormat: null,
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
    persistenceFile: null,
    autosaveInterval: 1800,
    user: null,
    pidFile: null,
    allowDuplicateMessages: false,
    autosaveOnChanges: false,
    persistenceDurableAck: false,
    maxAuthFailures: 0,
    authFailureWindow: 60,
    authBlockPeriod: 60,
    globalPlugins: [],
    clientidPrefixes: null,
    memoryLimit: 0,
    retainExpiryInterval: 0,
    websocketsLogLevel: 0,
    websocketsHeadersSize: 0,
  };
}
